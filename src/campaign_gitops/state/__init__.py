"""The database: tables, engines and sessions, the snapshot plan compares with.

The two names below live here, free of SQLAlchemy, so that resolving the settings
(every command, ``lint`` too) does not import the database layer.
"""

ENV_DB = "CAMPAIGN_GITOPS_DB"
DEFAULT_SQLITE = ".campaign-gitops/state.db"

_PG_SCHEMES = ("postgres://", "postgresql://")


def normalize_url(url: str) -> str:
    """The database URL with the driver this package uses.

    ``postgres://`` and ``postgresql://`` (as every provider prints them, libpq style)
    become ``postgresql+psycopg://``; anything else is returned unchanged. Every way to
    a database (settings, engines, the leader lock) goes through here.
    """
    for scheme in _PG_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url
