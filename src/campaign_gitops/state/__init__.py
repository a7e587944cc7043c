"""The database: tables, engines and sessions, the snapshot plan compares with.

The two names below live here, free of SQLAlchemy, so that resolving the settings
(every command, ``lint`` too) does not import the database layer.
"""

ENV_DB = "CAMPAIGN_GITOPS_DB"
DEFAULT_SQLITE = ".campaign-gitops/state.db"
