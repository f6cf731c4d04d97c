"""Flask extensions, created once and bound to an app in `create_app` with `init_app`.

The rate limiter is the exception: each app builds its own (rate_limits.RateLimits), so views
carry marks instead of a limiter's decorators."""

from flask_compress import Compress
from flask_mail import Mail
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from blueprints.rate_limits import ClientLimit, limited_by
from models import db

migrate = Migrate()
compress = Compress()
csrf = CSRFProtect()
mail = Mail()

# Marks for views, applied under the route decorator (rate_limits.ClientLimit says what each counts).
# `portal_post_limit`: one PORTAL_RATE_LIMIT budget per client (default 20/minute;200/day) shared
# by every portal form it marks.
portal_post_limit = limited_by(ClientLimit.PORTAL_POST)
# `signin_post_limit`: staff sign-in, SIGNIN_RATE_LIMIT (default 10/minute).
signin_post_limit = limited_by(ClientLimit.SIGNIN_POST)
# `launch_limit`: /launch, SIGNIN_RATE_LIMIT in a budget of its own.
launch_limit = limited_by(ClientLimit.LAUNCH)

__all__ = ["compress", "csrf", "db", "launch_limit", "mail", "migrate", "portal_post_limit", "signin_post_limit"]
