"""Precedence: flags > campaign-gitops.yaml > environment > defaults, with the origin of each."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign_gitops.config.settings import Origin, resolve


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config_file(repo: Path, text: str) -> None:
    (repo / "campaign-gitops.yaml").write_text(text)


def effective(repo: Path, env: dict[str, str], **flags: str) -> tuple[str, Origin, str, Origin]:
    s = resolve(dir_flag=flags.get("dir"), db_flag=flags.get("db"), env=env, cwd=repo)
    return (s.resources_dir.relative_to(repo).as_posix(), s.origins["resourcesDir"],
            s.database_url, s.origins["database.url"])


ENV = {"CAMPAIGN_GITOPS_DIR": "from-env", "CAMPAIGN_GITOPS_DB": "sqlite:///env.db",
       "TEAM_DB": "postgresql+psycopg://ci@db/team"}


def test_defaults(repo: Path) -> None:
    assert effective(repo, {}) == (
        "campaigns", Origin("default"),
        f"sqlite:///{repo}/.campaign-gitops/state.db", Origin("default"))


def test_environment_over_defaults(repo: Path) -> None:
    assert effective(repo, ENV) == ("from-env", Origin("env", "CAMPAIGN_GITOPS_DIR"),
                                    "sqlite:///env.db", Origin("env", "CAMPAIGN_GITOPS_DB"))


def test_file_over_environment(repo: Path) -> None:
    config_file(repo, "resourcesDir: from-file\ndatabase:\n  url: sqlite:///file.db\n")
    assert effective(repo, ENV) == (
        "from-file", Origin("file", "campaign-gitops.yaml:1:1"),
        "sqlite:///file.db", Origin("file", "campaign-gitops.yaml:3:3"))


def test_flags_over_file(repo: Path) -> None:
    config_file(repo, "resourcesDir: from-file\ndatabase:\n  url: sqlite:///file.db\n")
    assert effective(repo, ENV, dir="from-flag", db="sqlite:///flag.db") == (
        "from-flag", Origin("flag", "--dir"), "sqlite:///flag.db", Origin("flag", "--db"))


def test_url_env_named_by_the_file_is_at_the_files_level(repo: Path) -> None:
    config_file(repo, "database:\n  urlEnv: TEAM_DB\n")
    _, _, url, origin = effective(repo, ENV)
    assert (url, origin) == ("postgresql+psycopg://ci@db/team",
                             Origin("file", "$TEAM_DB, named at campaign-gitops.yaml:2:3"))


def test_url_env_unset_falls_through_with_a_note(repo: Path) -> None:
    config_file(repo, "database:\n  urlEnv: MISSING_DB\n")
    s = resolve(env={"CAMPAIGN_GITOPS_DB": "sqlite:///env.db"}, cwd=repo)
    assert (s.database_url, s.origins["database.url"]) == ("sqlite:///env.db",
                                                           Origin("env", "CAMPAIGN_GITOPS_DB"))
    assert s.notes == ("database.urlEnv names MISSING_DB, which is not set: falling back to "
                       "the next level",)


def test_file_paths_are_relative_to_the_file_not_the_current_folder(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file(repo, "resourcesDir: deep/campaigns\n")
    (repo / "deep" / "campaigns").mkdir(parents=True)
    monkeypatch.chdir(repo / "deep")
    s = resolve(env={}, cwd=repo / "deep")
    assert s.root == repo
    assert s.resources_dir == repo / "deep" / "campaigns"


def test_the_effective_config_carries_the_effective_folder_and_url(repo: Path) -> None:
    config_file(repo, "prune: true\ndatabase:\n  urlEnv: TEAM_DB\n")
    config = resolve(env=ENV, cwd=repo).require()
    assert config.prune is True
    assert config.resources_dir == str(repo / "from-env")
    assert (config.database.url, config.database.url_env) == ("postgresql+psycopg://ci@db/team",
                                                              None)


def test_every_value_says_where_it_came_from(repo: Path) -> None:
    config_file(repo, "prune: true\nclientDefaults:\n  credits: 50\n"
                      "database: {url: 'postgresql+psycopg://app@db/x'}\n")
    rows = {key: (value, str(origin)) for key, value, origin in
            resolve(env={}, cwd=repo).rows()}
    assert rows["prune"] == (True, "file (campaign-gitops.yaml:1:1)")
    assert rows["clientDefaults.credits"] == (50, "file (campaign-gitops.yaml:3:3)")
    assert rows["clientDefaults.subscription"] == ("trialing", "default")
    assert rows["failureThreshold"] == (0.2, "default")
    assert rows["database.url"] == ("postgresql+psycopg://app@db/x",
                                    "file (campaign-gitops.yaml:4:12)")
    assert rows["resourcesDir"] == ("campaigns", "default")


def test_a_password_from_the_environment_is_never_printed(repo: Path) -> None:
    rows = {key: value for key, value, _ in
            resolve(env={"CAMPAIGN_GITOPS_DB": "postgresql://app:hunter2@db/x"}, cwd=repo).rows()}
    assert rows["database.url"] == "postgresql://app:***@db/x"


def test_an_invalid_file_is_kept_as_findings_not_half_applied(repo: Path) -> None:
    config_file(repo, "resourcesDir: from-file\nprune: maybe\n")
    s = resolve(env=ENV, cwd=repo)
    assert s.config is None
    assert [(f.location.line, f.location.column) for f in s.file.findings] == [(2, 8)]


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://app:hunter2@db/x", "postgresql://app:***@db/x"),
    ("postgresql+psycopg://ci:p@ss:w@db.internal:5432/c", "postgresql+psycopg://ci:***@db.internal:5432/c"),
    ("postgresql://app:x@db?sslmode=require", "postgresql://app:***@db?sslmode=require"),
    ("postgresql://app@db/x", "postgresql://app@db/x"),
    ("sqlite:////tmp/state.db", "sqlite:////tmp/state.db"),
])
def test_redact_hides_every_password_character(url: str, shown: str) -> None:
    from campaign_gitops.redact import redact_url as redact

    assert redact(url) == shown
