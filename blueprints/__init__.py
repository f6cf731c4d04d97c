"""One blueprint per area of the product; what several screens share lives in the modules beside
them (access, rendering, account_page), never in one area's blueprint."""

from flask import Flask, g


def register_blueprints(app: Flask) -> None:
    from blueprints.access import can_switch_practice
    from blueprints.auth import bp as auth_bp
    from blueprints.errors import register_error_handlers
    from blueprints.patient_admin import bp as patient_admin_bp
    from blueprints.portal import bp as portal_bp
    from blueprints.practice_settings import bp as practice_settings_bp
    from blueprints.registration import bp as registration_bp
    from blueprints.webhooks import bp as webhooks_bp
    from services.practice.practice_time import format_local_in

    app.register_blueprint(auth_bp)
    app.register_blueprint(patient_admin_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(practice_settings_bp)
    app.register_blueprint(webhooks_bp)
    if app.config["DEV_OUTBOX"]:
        from blueprints.dev_outbox import bp as dev_outbox_bp

        app.register_blueprint(dev_outbox_bp)
    register_error_handlers(app)
    app.add_template_global(can_switch_practice)

    @app.template_global("format_local")
    def format_local_for_practice(moment):
        """A UTC moment in the signed-in practice's time zone."""
        return format_local_in(moment, g.staff_context.timezone)
