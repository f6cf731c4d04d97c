"""The parent-facing Patient Portal. Registration itself arrives with the parent-side issue;
until then the page shows the form and says plainly that accounts cannot be created yet."""

from __future__ import annotations

from flask import Blueprint, render_template, request

bp = Blueprint("portal", __name__, url_prefix="/portal")


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Patient Portal registration page (full page; parents use phones)."""
    mode = "desk" if request.args.get("desk") else "question" if request.args.get("vq") else "pin"
    status = 200
    unavailable = False
    if request.method == "POST":
        unavailable = True
        status = 503
    return render_template("portal/register.html", mode=mode, unavailable=unavailable), status
