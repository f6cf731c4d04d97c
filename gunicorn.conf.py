"""gunicorn's settings for production (README: Running in production). gunicorn reads
./gunicorn.conf.py from the directory it starts in, so `gunicorn` alone, run in the repository,
serves the app as below; command-line options override any of these.

Its logs go through blueprints/logs.py: the request line without its query string, an exception
as its type and frames (never its message, which for a database error quotes the SQL), JSON lines
when LOG_FORMAT=json."""

from blueprints.logs import gunicorn_logconfig
from config import log_format

wsgi_app = "app:create_app()"
workers = 2
worker_class = "gthread"
threads = 4
# Equal to threads: with gunicorn's default (1000) a gthread worker accepts kept-alive clients it
# has no thread for (benchmarks/RESULTS.md, load).
worker_connections = 4
logconfig_dict = gunicorn_logconfig(log_format())
