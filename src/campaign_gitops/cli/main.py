"""The ``campaign-gitops`` command group: global options and the error boundary.

Each command module under ``cli/`` defines its commands and a ``register(group)``
function; this module only wires them together and turns operational errors into one
line for the user (never a traceback for bad input).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any, NoReturn

import click

from campaign_gitops import __version__
from campaign_gitops.cli.common import Context, run_as_program
from campaign_gitops.findings import CampaignGitopsError

DEBUG_ENV = "CAMPAIGN_GITOPS_DEBUG"

COMMAND_MODULES: tuple[str, ...] = (
    "campaign_gitops.cli.lint_cmd",
    "campaign_gitops.cli.schema_cmd",
    "campaign_gitops.cli.config_cmd",
    "campaign_gitops.cli.init_cmd",
    "campaign_gitops.cli.suggest_cmd",
    "campaign_gitops.cli.daemon_cmd",
    "campaign_gitops.cli.plan_cmd",
    "campaign_gitops.cli.status_cmd",
    "campaign_gitops.cli.admin_cmd",
    "campaign_gitops.cli.tick_cmd",
    "campaign_gitops.cli.leads_cmd",
    "campaign_gitops.cli.runs_cmd",
    "campaign_gitops.cli.communications_cmd",
    "campaign_gitops.cli.replies_cmd",
    "campaign_gitops.cli.review_cmd",
    "campaign_gitops.cli.ui_cmd",
    "campaign_gitops.cli.recipients_cmd",
    "campaign_gitops.cli.preview_cmd",
    "campaign_gitops.cli.pr_comment_cmd",
)

# Commands not defined in ``<name>_cmd``: where they are, so that running one imports
# only its own module (scanning COMMAND_MODULES in order would import the AI SDK, about
# 1.5 s, before ``apply`` or ``client``). tests/cli/test_command_homes.py keeps it whole.
COMMAND_HOMES: dict[str, str] = {
    "apply": "campaign_gitops.cli.plan_cmd",
    "history": "campaign_gitops.cli.plan_cmd",
    "export": "campaign_gitops.cli.plan_cmd",
    "reconcile": "campaign_gitops.cli.daemon_cmd",
    "client": "campaign_gitops.cli.admin_cmd",
    "halt": "campaign_gitops.cli.admin_cmd",
    "resume": "campaign_gitops.cli.admin_cmd",
    "db": "campaign_gitops.cli.admin_cmd",
    "suppressions": "campaign_gitops.cli.recipients_cmd",
}


def command_home(name: str) -> str | None:
    """The module that defines command ``name`` (None: not a known command)."""
    if name in COMMAND_HOMES:
        return COMMAND_HOMES[name]
    module = f"campaign_gitops.cli.{name.replace('-', '_')}_cmd"
    return module if module in COMMAND_MODULES else None


_LOADED: set[str] = set()


class Group(click.Group):
    """Loads command modules lazily; turns CampaignGitopsError into one line and its exit code.

    A command only imports the module that defines it (``command_home``: ``<name>_cmd``
    or ``COMMAND_HOMES``), so ``lint`` does not pay for the AI SDK or the database, nor
    ``apply`` for the AI SDK; ``--help`` loads them all.
    """

    def _load(self, module: str) -> None:
        if module not in _LOADED:
            _LOADED.add(module)
            importlib.import_module(module).register(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            home = command_home(cmd_name)
            for module in (home, *COMMAND_MODULES) if home else COMMAND_MODULES:
                self._load(module)
                if cmd_name in self.commands:
                    break
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            accept_global_options(command)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_all_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            code = super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except CampaignGitopsError as exc:
            _fail(ctx, exc.message, exc.hint, exc.exit_code)
        except BrokenPipeError:
            pipe_closed()
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            _fail(ctx, f"{exc.strerror or exc}{where}",
                  "check the path and its permissions", 2)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            if type(exc).__module__.startswith("sqlalchemy"):
                orig = getattr(exc, "orig", None) or exc
                _fail(ctx, f"database error: {str(orig).splitlines()[0]}",
                      "check --db / CAMPAIGN_GITOPS_DB points at a campaign-gitops database "
                      "that is reachable", 2)
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc}",
                  f"this is a bug; run again with {DEBUG_ENV}=1 for the traceback and "
                  "report it", 2)
        # Every command returns its exit code (pre-commit's style); this is the one place
        # it becomes the process's exit status.
        ctx.exit(code or 0)


GLOBAL_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--dir", "dir_option", "Same as the global --dir (given after the command)."),
    ("--db", "db_option", "Same as the global --db (given after the command)."),
)
_ACCEPTS = "_campaign_gitops_global_options"


def _late_global(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """A global option given after the command: it outranks the one before it."""
    if value is not None and param.name:
        setattr(ctx.ensure_object(Context), param.name.removeprefix("global_"), value)


def accept_global_options(command: click.Command) -> None:
    """Let ``command`` (and every command below it) take the global options too.

    ``campaign-gitops lint --dir x`` then means ``campaign-gitops --dir x lint``; one
    mechanism for every command, added when the command is looked up.
    """
    if getattr(command, _ACCEPTS, False):
        return
    setattr(command, _ACCEPTS, True)
    taken = {opt for param in command.params for opt in param.opts}
    for flag, attribute, help_text in GLOBAL_OPTIONS:
        if flag not in taken:
            command.params.append(click.Option(
                [flag, f"global_{attribute}"], default=None, expose_value=False,
                callback=_late_global, help=help_text, metavar="TEXT"))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_global_options(sub)


def _fail(ctx: click.Context, message: str, hint: str, code: int) -> NoReturn:
    """One line for the user (and a hint), never a traceback; then exit with ``code``."""
    click.secho(f"error: {message}", fg="red", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    ctx.exit(code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"],
                                          "max_content_width": 100})
@click.option("--dir", "directory", default="campaigns", show_default=True,
              envvar="CAMPAIGN_GITOPS_DIR",
              help="Folder holding the resource YAML files (over resourcesDir in "
                   "campaign-gitops.yaml, over $CAMPAIGN_GITOPS_DIR).")
@click.option("--db", default=None, envvar="CAMPAIGN_GITOPS_DB",
              help="Database URL (over database.url in campaign-gitops.yaml, over "
                   "$CAMPAIGN_GITOPS_DB; default: sqlite:///.campaign-gitops/state.db at the "
                   "repo root).")
@click.version_option(__version__, prog_name="campaign-gitops")
@click.pass_context
def cli(ctx: click.Context, directory: str, db: str | None) -> None:
    """Outreach campaigns as code: lint, plan, apply, reconcile.

    \b
    Example:
      campaign-gitops lint                 # preflight every file under campaigns/
      campaign-gitops plan                 # what apply would change in the database
      campaign-gitops apply --auto-approve
    """
    # Only values given on the command line outrank campaign-gitops.yaml; what click read
    # from CAMPAIGN_GITOPS_DIR/_DB ranks below the file (config/settings.py).
    flag = click.core.ParameterSource.COMMANDLINE
    ctx.obj = Context(dir=directory if ctx.get_parameter_source("directory") == flag else None,
                      db=db if ctx.get_parameter_source("db") == flag else None)


def load_all_commands() -> None:
    """Register every command module (what ``--help`` lists)."""
    for name in COMMAND_MODULES:
        cli._load(name)  # type: ignore[attr-defined]


PIPE_CLOSED_EXIT = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`


def pipe_closed() -> NoReturn:
    """The reader of our output went away (``| head``): stop quietly, like Unix tools.

    Later writes (and the final flush at exit) go to /dev/null, so Python prints no
    "Exception ignored" either; the exit status is 141, as if killed by SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):  # no real stdout (tests)
        os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(PIPE_CLOSED_EXIT)


def main() -> None:
    run_as_program()
    try:
        try:
            cli.main(prog_name="campaign-gitops")
        finally:
            sys.stdout.flush()  # a closed pipe shows here for short output
    except BrokenPipeError:
        pipe_closed()
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
