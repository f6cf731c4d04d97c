"""Domain services. They take plain values and a SQLAlchemy session, never `request` or `g`,
so the routes, the CLI and the tests share them."""
