"""The effective configuration: flags > campaign-gitops.yaml > environment > defaults.

Two settings exist at every level:

* resources folder: ``--dir`` > file ``resourcesDir`` (relative to the file) >
  ``CAMPAIGN_GITOPS_DIR`` > ``campaigns`` (flag and variable relative to the current
  directory, the default relative to the repo root);
* database: ``--db`` > file ``database.url`` > the variable the file names in
  ``database.urlEnv`` (when set) > ``CAMPAIGN_GITOPS_DB`` >
  ``sqlite:///<root>/.campaign-gitops/state.db``.

Everything else comes from the file or the defaults. The file is the one at the repo
root, found as git finds its top level (the nearest ``campaign-gitops.yaml`` upwards, else
the nearest ``.git``) from the folder the flag (else the variable, else the current
directory) points at: a command run in ``campaigns/acme`` works on the whole repo.
Every value carries where it came from, for ``campaign-gitops config``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from campaign_gitops.config.discovery import relative_name
from campaign_gitops.config.project import ProjectConfig, find_root
from campaign_gitops.config.project_file import ProjectFile, load_project_file
from campaign_gitops.redact import redact_text, redact_url

# no SQLAlchemy: lint stays fast
from campaign_gitops.state import DEFAULT_SQLITE, ENV_DB

ENV_DIR = "CAMPAIGN_GITOPS_DIR"
DEFAULT_DIR = "campaigns"
Source = Literal["flag", "file", "env", "default"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one value came from: the level, and the flag, variable or file position."""

    source: Source
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.source} ({self.detail})" if self.detail else self.source


@dataclass(frozen=True, slots=True)
class Settings:
    """The effective configuration of one invocation (``config`` is None if the file is bad)."""

    root: Path
    file: ProjectFile
    resources_dir: Path
    database_url: str
    origins: Mapping[str, Origin]
    notes: tuple[str, ...] = field(default=())

    @property
    def config(self) -> ProjectConfig | None:
        """The file's configuration with the effective folder and database filled in."""
        if not self.file.ok or self.file.config is None:
            return None
        base = self.file.config
        database = base.database.model_copy(update={"url": self.database_url, "url_env": None})
        return base.model_copy(update={"resources_dir": str(self.resources_dir),
                                       "database": database})

    def require(self) -> ProjectConfig:
        config = self.config
        if config is None:
            self.file.require()  # raises ProjectConfigError with every position
            raise AssertionError("unreachable")  # pragma: no cover
        return config

    def rows(self) -> Iterator[tuple[str, Any, Origin]]:
        """(dotted key, value, origin) of every effective value, in the file's key order."""
        config = self.config or ProjectConfig()
        data = config.model_dump(mode="json", by_alias=True)
        data["resourcesDir"] = relative_name(self.resources_dir, self.root)
        data["database"]["url"] = redact_url(self.database_url)
        data["database"]["urlEnv"] = (self.file.config.database.url_env
                                      if self.file.config else None)
        for key, value in _flatten(data, ()):
            if isinstance(value, str):  # webhook and remote URLs too
                value = redact_text(value)
            yield ".".join(str(p) for p in key), value, self._origin(key)

    def _origin(self, key: tuple[str | int, ...]) -> Origin:
        dotted = ".".join(str(p) for p in key)
        if dotted in self.origins:
            return self.origins[dotted]
        where = self.file.location(key)
        return Origin("file", str(where)) if where else Origin("default")


def _flatten(value: Any, key: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...],
                                                                     Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _flatten(v, (*key, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _flatten(v, (*key, i))
    else:
        yield key, value


def _resources_dir(flag: str | None, file: ProjectFile, root: Path, env: Mapping[str, str],
                   cwd: Path) -> tuple[Path, Origin]:
    if flag:
        return (cwd / flag).absolute(), Origin("flag", "--dir")
    where = file.location(("resourcesDir",))
    if where is not None and file.config is not None:
        return (root / file.config.resources_dir).absolute(), Origin("file", str(where))
    if env.get(ENV_DIR):
        return (cwd / env[ENV_DIR]).absolute(), Origin("env", ENV_DIR)
    return (root / DEFAULT_DIR).absolute(), Origin("default")


def _database(flag: str | None, file: ProjectFile, root: Path,
              env: Mapping[str, str]) -> tuple[str, Origin, list[str]]:
    notes: list[str] = []
    if flag:
        return flag, Origin("flag", "--db"), notes
    db = file.config.database if file.config is not None else None
    if db is not None and db.url:
        return db.url, Origin("file", str(file.location(("database", "url")))), notes
    if db is not None and db.url_env:
        where = file.location(("database", "urlEnv"))
        if env.get(db.url_env):
            return env[db.url_env], Origin("file", f"${db.url_env}, named at {where}"), notes
        notes.append(f"database.urlEnv names {db.url_env}, which is not set: "
                     "falling back to the next level")
    if env.get(ENV_DB):
        return env[ENV_DB], Origin("env", ENV_DB), notes
    return f"sqlite:///{(root / DEFAULT_SQLITE).as_posix()}", Origin("default"), notes


def resolve(*, dir_flag: str | None = None, db_flag: str | None = None,
            env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Resolve the effective settings; an invalid file is kept in ``file.findings``.

    ``dir_flag``/``db_flag`` are the values given on the command line (None when the
    flag was not given: a value click read from the environment is passed in ``env``).
    """
    env = os.environ if env is None else env
    cwd = (cwd or Path.cwd()).absolute()
    # from a subfolder (``cd campaigns/acme``) the root is found upwards, and the default
    # folder and database are the root's: never ``campaigns/acme/campaigns``
    pointed = dir_flag or env.get(ENV_DIR)
    root = find_root(cwd / pointed) if pointed else find_root(cwd)
    file = load_project_file(root)
    resources_dir, dir_origin = _resources_dir(dir_flag, file, root, env, cwd)
    url, db_origin, notes = _database(db_flag, file, root, env)
    return Settings(root, file, resources_dir, url,
                    {"resourcesDir": dir_origin, "database.url": db_origin}, tuple(notes))
