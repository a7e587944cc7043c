"""What every command shares: the click context object and its decorator.

``Context`` resolves the effective configuration once, on first use: flags >
``campaign-gitops.yaml`` > environment > defaults (``config/settings.py``, the one
place that order is written). ``dir``, ``db``, ``project``, ``config``, ``open_db()``
and ``session()`` all answer from it, so a command that uses any of them honours the
file; an invalid file fails them with a ProjectConfigError naming every
file:line:column. Helpers more than one command module uses live here too
(``--format``, JSON and table output, the listings' paging and campaign filter).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.config.project_file import ProjectConfigError, rule_override_findings
from campaign_gitops.config.settings import Settings, resolve
from campaign_gitops.textsafe import printable

if TYPE_CHECKING:  # the database layer (SQLAlchemy) loads only for commands that open one
    from sqlalchemy.orm import Session

    from campaign_gitops.state.db import Database


def rule_severities() -> dict[str, set[str]]:
    """Rule id -> the severities it can have in any action (from the preflight registry)."""
    from campaign_gitops.preflight.registry import Conditional
    from campaign_gitops.preflight.rules import all_rules

    out: dict[str, set[str]] = {"SCHEMA": {"error"}}
    for rule in all_rules():
        levels = out.setdefault(rule.id, set())
        for cell in rule.severities.values():
            if isinstance(cell, Conditional):
                levels.update(("error", "warning"))
            elif cell is not None:
                levels.add(str(cell))
    return out


class Context:
    """What every command gets: the effective settings, the project, the database URL.

    ``dir_option``/``db_option`` are the global options as given on the command line
    (None when not given there; values click read from the environment count as
    environment, below the file).
    """

    def __init__(self, dir: str | None = None, db: str | None = None) -> None:
        self.dir_option = dir
        self.db_option = db

    @cached_property
    def settings(self) -> Settings:
        """Every effective value and where it came from (never raises for a bad file)."""
        return resolve(dir_flag=self.dir_option, db_flag=self.db_option)

    @cached_property
    def config(self) -> ProjectConfig:
        """The validated campaign-gitops.yaml with the effective folder and database."""
        settings = self.settings
        config = settings.require()
        problems = rule_override_findings(settings.file, rule_severities())
        if problems:
            raise ProjectConfigError(problems)
        return config

    @property
    def project(self) -> Project:
        self.config  # noqa: B018 - a broken configuration fails every command that uses it
        return Project(root=self.settings.root, resources_dir=self.settings.resources_dir)

    @property
    def dir(self) -> str:
        """The effective resources folder (absolute)."""
        return str(self.project.resources_dir)

    @property
    def db(self) -> str:
        """The effective database URL: ``--db`` > file > ``CAMPAIGN_GITOPS_DB`` > SQLite."""
        self.config  # noqa: B018
        return self.settings.database_url

    database_url = db

    def open_db(self, *, create: bool = True, migrate: bool = True) -> Database:
        """The effective database; ``create=False`` for reads: a missing one is an
        error (exit 1) and nothing is created."""
        from campaign_gitops.state.db import open_database

        return open_database(self.db, create=create, migrate=migrate)

    @contextmanager
    def session(self, *, create: bool = True) -> Iterator[Session]:
        """A session on the database, disposed after; reads pass ``create=False``."""
        db = self.open_db(create=create)
        try:
            with db.session() as session:
                yield session
        finally:
            db.dispose()


pass_context = click.make_pass_decorator(Context)

# Whether this process is the program (``main``), which ends when the command does;
# not when a test runner invokes commands in its own long-lived process.
PROGRAM = {"standalone": False}


def run_as_program() -> None:
    PROGRAM["standalone"] = True


def skip_final_collection() -> None:
    """Let the process end without the interpreter's last garbage collection.

    At exit CPython walks every object still alive (modules, models, a large repo's
    findings) to free memory the process hands back anyway: ~30 ms after a lint of
    12,500 files. Freezing them first (``gc.freeze``) skips that walk; objects are still
    released by reference counting as modules are torn down. For commands that hold no
    connection or unflushed file at exit (lint), and only in the program itself.
    """
    if PROGRAM["standalone"]:
        import atexit
        import gc

        atexit.register(gc.freeze)


APPLY_DELAY_ENV = "CAMPAIGN_GITOPS_TEST_APPLY_DELAY"


def apply_delay() -> float:
    """Seconds to sleep after each applied change (``apply``, the daemon's passes): a
    hook for the end-to-end tests that stop an apply midway, read at the edge and
    handed down (``apply_changes(delay=)``)."""
    try:
        return max(0.0, float(os.environ.get(APPLY_DELAY_ENV, "0") or 0))
    except ValueError:
        return 0.0


def parse_now(value: str | None) -> dt.datetime:
    """``--now`` (ISO 8601; no offset means UTC), else the current time."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. "
                                 "2026-12-01T09:00:00+11:00", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def now_option(help: str = "Act as of this time (ISO 8601; no offset means UTC); "
               "default: the current time.") -> Any:
    """``--now``: the clock of a command, given by its caller (simulations, tests)."""
    return click.option("--now", "now_text", metavar="ISO", help=help)


def attention_lines(counts: dict[str, int], indent: str = "  ") -> None:
    """The messages that need a person: unknown (settle them) and stuck."""
    if counts.get("unknown"):
        click.secho(f"{indent}attention: {counts['unknown']} message(s) unknown: they may have "
                    "gone out; see `communications --status unknown`, then `communications "
                    "settle ID… --as sent|failed|resend`", fg="yellow")
    if counts.get("stuck"):
        click.secho(f"{indent}attention: {counts['stuck']} message(s) stuck queued or sending "
                    "past the lease (a halt, a pause or a closed window holds them, or no "
                    "tick ran since a crash)", fg="yellow")


# ---------------------------------------------------------------- output formats
# Each command keeps one dict ``format -> renderer``; the same dict gives ``--format``
# its choices (``format_option(FORMATS)``), so a format is added in one place.

Renderers = Mapping[str, Callable[..., Any]]


def format_option(formats: Renderers, help: str | None = None) -> Any:
    """``--format``, whose choices are the keys of the command's renderers (in order)."""
    return click.option("--format", "fmt", type=click.Choice(tuple(formats)), default="text",
                        show_default=True, help=help)


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, in the order given (as if stacked)."""
    def apply(func: Any) -> Any:
        for option in reversed(decorators):
            func = option(func)
        return func

    return apply


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def echo_as_json(item: Any) -> None:
    """A result's ``as_json()`` as JSON: the ``json`` renderer of single results."""
    echo_json(item.as_json())


def results_formats(key: str, line: Callable[[Any], str]) -> dict[str, Callable[[list[Any]], None]]:
    """Renderers of per-message results (settle, review decisions): one line each, or
    ``{key: [result.as_json(), ...]}``."""
    def text(results: list[Any]) -> None:
        for result in results:
            click.echo(line(result))

    return {"text": text,
            "json": lambda results: echo_json({key: [r.as_json() for r in results]})}


def unchanged_exit(results: list[Any]) -> int:
    """Exit 1 when any result left its message unchanged (it was not in the status the
    command acts on), else 0."""
    return 1 if any(r.status == "unchanged" for r in results) else 0


def table(rows: list[dict[str, Any]], columns: list[str], empty: str) -> None:
    """Aligned columns; long values are cut to 60 characters, but for the last column
    (a reason or a subject: what to do is often at its end), which is shown whole."""
    if not rows:
        click.echo(empty)
        return
    last = len(columns) - 1
    cells = [[_cell(_seconds(row.get(c)) if c.endswith("_at") else row.get(c),
                    whole=i == last) for i, c in enumerate(columns)] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
               .rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _seconds(value: Any) -> Any:
    """An ISO time to the second (tables only; JSON keeps the fraction)."""
    try:
        return dt.datetime.fromisoformat(value).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return value


def _cell(value: Any, *, whole: bool = False) -> str:
    if value is None:
        return "-"
    text = printable(value, one_line=True)
    return text if whole or len(text) <= 60 else text[:57] + "..."


class Listing:
    """The output of a listing: a table (rows through ``cells`` first), or ``{key: rows}``;
    a paged one adds the ``older: --before ID`` line, and ``next_before`` to the JSON.
    ``formats`` is the command's renderers: ``formats[fmt](rows, older)``."""

    def __init__(self, key: str, columns: list[str], empty: str, *, paged: bool = True,
                 cells: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.key, self.columns, self.empty = key, columns, empty
        self.paged, self.cells = paged, cells
        self.formats: dict[str, Callable[..., None]] = {"text": self.text, "json": self.json}

    def text(self, rows: list[dict[str, Any]], older: int | None = None) -> None:
        table([self.cells(r) for r in rows] if self.cells else rows, self.columns, self.empty)
        if older is not None:
            click.echo(f"older: --before {older}")

    def json(self, rows: list[dict[str, Any]], older: int | None = None) -> None:
        echo_json({self.key: rows, "next_before": older} if self.paged else {self.key: rows})

    def options(self, *filters: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """The listing's filter options, then ``--limit``/``--before`` (paged) and
        ``--format``, as one decorator."""
        paging = (page_options,) if self.paged else ()
        return options(*filters, *paging, format_option(self.formats))


# ---------------------------------------------------------------- listings' filters


def page_options(func: Any) -> Any:
    func = click.option("--before", type=click.IntRange(1), metavar="ID",
                        help="Only rows older than this id (the 'older:' hint of a "
                             "listing).")(func)
    return click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
                        help="How many of the newest rows.")(func)


def campaign_scope(session: Any, campaign: str | None, client: str | None
                   ) -> dict[str, str | None]:
    """``--campaign NAME|CLIENT/NAME`` and ``--client`` as the listing's filters; an
    unknown campaign is an error, not an empty list."""
    if not campaign:
        return {"client": client, "campaign": None}
    from campaign_gitops.runs.queries import check_campaign

    check_campaign(session, campaign)
    owner, _, name = campaign.rpartition("/")
    return {"client": owner or client, "campaign": name}


def run_filter(session: Any, run_ref: str | None) -> int | None:
    """``--run ID|CLIENT/CAMPAIGN/RUN`` as the run id a listing filters on (None: all)."""
    from campaign_gitops.runs.queries import find_run

    return find_run(session, run_ref) if run_ref else None


def newest_rows(session: Any, page: Callable[..., Any], *, limit: int, before: int | None,
                **filters: Any) -> tuple[list[dict[str, Any]], int | None]:
    """The newest ``limit`` rows of a keyset-paged listing (``state/listings.py``) before
    ``before``, oldest of them first, and the id the next page starts before."""
    from campaign_gitops.state.listings import newest

    return newest(lambda **keys: page(session, **filters, **keys), limit=limit, before=before)
