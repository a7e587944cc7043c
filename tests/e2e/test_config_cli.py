"""`campaign-gitops config` and the configuration file through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli

CLEAN_ENV = {"CAMPAIGN_GITOPS_DIR": None, "CAMPAIGN_GITOPS_DB": None}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    for name in ("from-file", "from-env", "from-flag"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(args: list[str], **env: str | None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env={**CLEAN_ENV, **env})
    return result.exit_code, result.stdout, result.stderr


def values(args: list[str], **env: str | None) -> dict[str, tuple[object, str, str]]:
    code, out, err = run([*args, "config", "--format", "json"], **env)
    assert code == 0, err
    data = json.loads(out)
    return {k: (v["value"], v["source"], v["detail"]) for k, v in data["values"].items()}


def test_flags_beat_the_file_which_beats_the_environment(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text("resourcesDir: from-file\n")
    env = {"CAMPAIGN_GITOPS_DIR": "from-env", "CAMPAIGN_GITOPS_DB": "sqlite:///env.db"}
    got = values([], **env)
    assert got["resourcesDir"] == ("from-file", "file", "campaign-gitops.yaml:1:1")
    assert got["database.url"] == ("sqlite:///env.db", "env", "CAMPAIGN_GITOPS_DB")
    got = values(["--dir", "from-flag", "--db", "sqlite:///flag.db"], **env)
    assert got["resourcesDir"] == ("from-flag", "flag", "--dir")
    assert got["database.url"] == ("sqlite:///flag.db", "flag", "--db")


def test_environment_beats_defaults(repo: Path) -> None:
    assert values([])["resourcesDir"] == ("campaigns", "default", "")
    assert values([], CAMPAIGN_GITOPS_DIR="from-env")["resourcesDir"] == (
        "from-env", "env", "CAMPAIGN_GITOPS_DIR")


def test_text_output_names_each_source(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text("prune: true\n")
    code, out, _ = run(["--dir", "from-flag", "config"], CAMPAIGN_GITOPS_DB="sqlite:///e.db")
    assert code == 0
    lines = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()[3:]}
    assert lines["resourcesDir"] == ["from-flag", "flag (--dir)"]
    assert lines["database.url"] == ["sqlite:///e.db", "env (CAMPAIGN_GITOPS_DB)"]
    assert lines["prune"] == ["true", "file (campaign-gitops.yaml:1:1)"]
    assert lines["failureThreshold"] == ["0.2", "default"]


BROKEN = "prune: true\nfreezeWindow:\n  - {cron: '0 1 * * *', duration: 1h}\ntiers: {velocty: {}}\n"


def test_invalid_file_fails_commands_with_line_and_column(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text(BROKEN)  # lint reports it as findings
    code, out, err = run(["--dir", "from-file", "plan"])
    assert code == 2 and out == ""
    assert err.splitlines()[0] == (
        "error: invalid project configuration: campaign-gitops.yaml:2:1: unknown field "
        "'freezeWindow' (did you mean 'freezeWindows'?)")
    assert "  campaign-gitops.yaml:4:9: tiers: unknown key 'velocty' (did you mean 'velocity'?)" \
        in err.splitlines()


def test_config_lists_every_problem_and_exits_1(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text(BROKEN)
    code, out, _ = run(["config", "--format", "json"])
    data = json.loads(out)
    assert code == 1 and data["valid"] is False and data["values"] == {}
    assert [(f["line"], f["column"], f["rule"]) for f in data["findings"]] == [
        (2, 1, "SCHEMA"), (4, 9, "SCHEMA"), (4, 9, "SCHEMA"), (4, 9, "SCHEMA")]
    code, out, _ = run(["config"])
    assert code == 1
    assert "campaign-gitops.yaml:2:1: error: unknown field 'freezeWindow'" in out


def test_lowering_an_error_is_a_configuration_error(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text("rules:\n  PF015: error\n  PF001: warning\n")
    code, out, _ = run(["config"])
    assert code == 1
    assert ("campaign-gitops.yaml:3:10: error: rules.PF001: an error is never lowered to a "
            "warning") in out
    code, _, err = run(["--dir", "from-file", "plan"])
    assert code == 2 and "rules.PF001: an error is never lowered" in err
    code, out, _ = run(["--dir", "from-file", "lint", "--format", "github"])
    assert code == 1 and out.startswith("::error file=campaign-gitops.yaml,line=3,col=10,"
                                        "title=SCHEMA::rules.PF001: an error is never lowered")


def test_unknown_rule_gets_a_did_you_mean(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text("rules:\n  PF105: error\n")
    code, out, _ = run(["config"])
    assert code == 1
    assert "campaign-gitops.yaml:2:3: error: rules: unknown rule 'PF105'" in out
    assert "did you mean" in out


def test_the_database_a_command_opens_follows_flag_file_env_default(repo: Path) -> None:
    """The URL precedence pinned where it matters: the database a real command creates."""
    from campaign_gitops.state import DEFAULT_SQLITE

    def opened(args: list[str], **env: str | None) -> set[str]:
        code, _, err = run([*args, "db", "upgrade"], **env)
        assert code == 0, err
        made = {p.relative_to(repo).as_posix() for p in repo.rglob("*.db")}
        for path in repo.rglob("*.db*"):  # with any -wal/-shm beside it
            path.unlink()
        return made

    (repo / "campaign-gitops.yaml").write_text(f"database:\n  url: sqlite:///{repo}/file.db\n")
    env = {"CAMPAIGN_GITOPS_DB": f"sqlite:///{repo}/env.db"}
    assert opened(["--db", f"sqlite:///{repo}/flag.db"], **env) == {"flag.db"}
    assert opened([], **env) == {"file.db"}
    (repo / "campaign-gitops.yaml").write_text("database:\n  urlEnv: OUR_DB\n")
    assert opened([], OUR_DB=f"sqlite:///{repo}/named.db", **env) == {"named.db"}
    assert opened([], **env) == {"env.db"}  # the named variable is not set: next level
    (repo / "campaign-gitops.yaml").unlink()
    assert opened([], **env) == {"env.db"}
    assert opened([]) == {DEFAULT_SQLITE}
