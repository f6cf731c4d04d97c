"""Flask extensions, created once and bound to an app in `create_app` with `init_app`."""

from flask_mail import Mail
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from models import db

migrate = Migrate()
csrf = CSRFProtect()
mail = Mail()

__all__ = ["csrf", "db", "mail", "migrate"]
