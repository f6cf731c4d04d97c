"""Flask extensions, created once and bound to an app in `create_app` with `init_app`."""

from flask_compress import Compress
from flask_limiter.util import get_remote_address
from flask_mail import Mail
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from models import db
from rate_limits import AppScopedLimiter, portal_rate_limit, signin_rate_limit

migrate = Migrate()
compress = Compress()
csrf = CSRFProtect()
mail = Mail()
# Per client (its address). Storage comes from RATELIMIT_STORAGE_URI, chosen in create_app.
limiter = AppScopedLimiter(key_func=get_remote_address)

# Decorators for views, applied under the route decorator. Both count POSTs only: showing a page
# is never limited. The limits are read from the app's config on every request.
#
# `portal_post_limit`: every portal view it decorates draws on one budget per client,
# PORTAL_RATE_LIMIT (default 20/minute;200/day), so a guesser cannot multiply it by spreading
# attempts over several portal forms.
portal_post_limit = limiter.shared_limit(portal_rate_limit, scope="portal-post", methods=["POST"])
# `signin_post_limit`: staff sign-in, SIGNIN_RATE_LIMIT (default 10/minute).
signin_post_limit = limiter.limit(signin_rate_limit, methods=["POST"])
# `launch_limit`: /launch is a GET that anyone can call and that writes an audit row; it shares
# the sign-in budget per client (a host portal launches one person at a time).
launch_limit = limiter.shared_limit(signin_rate_limit, scope="launch", methods=["GET"])

__all__ = ["compress", "csrf", "db", "launch_limit", "limiter", "mail", "migrate", "portal_post_limit", "signin_post_limit"]
