"""Issue 13, the CLI: what a new user hits (real CLI, real repos in tmp_path, real PG)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli

REPO = Path(__file__).resolve().parents[2]

CLIENT = """
    apiVersion: campaign-gitops/v1
    kind: Client
    metadata: {{name: {name}}}
    spec: {{tier: velocity, resources: {{emailDomain: {name}.test}}}}
    ---
    apiVersion: campaign-gitops/v1
    kind: Goal
    metadata: {{name: book-demo, client: {name}}}
    spec: {{outcome: meeting}}
    ---
    apiVersion: campaign-gitops/v1
    kind: Template
    metadata: {{name: intro, client: {name}}}
    spec: {{channel: email, subject: Hi, body: "Hi {{{{first_name}}}} {{{{unsubscribe_url}}}}"}}
    """


def write_client(root: Path, name: str) -> None:
    path = root / "campaigns" / name / "client.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(CLIENT.format(name=name)).lstrip())


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    write_client(tmp_path, "acme")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMPAIGN_GITOPS_DB", raising=False)
    monkeypatch.delenv("CAMPAIGN_GITOPS_DIR", raising=False)
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_global_options_after_the_command(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    code, out = invoke("lint", "--dir", "nowhere")
    assert code == 2 and "nowhere" in out and "No such option" not in out
    code, out = invoke("apply", "--auto-approve", "--db", f"sqlite:///{other}")
    assert code == 0, out
    assert other.is_file() and not (repo / ".campaign-gitops/state.db").exists()
    # nested groups take them too, and after the command outranks before it
    code, out = invoke("--db", "sqlite:///nope/x.db", "runs", "list", "--db",
                       f"sqlite:///{other}")
    assert code == 0, out


def test_postgres_urls_as_providers_print_them(repo: Path, pg_url: str) -> None:
    for scheme in ("postgres://", "postgresql://"):
        url = pg_url.replace("postgresql+psycopg://", scheme)
        code, out = invoke("--db", url, "apply", "--auto-approve")
        assert code == 0, out
        code, out = invoke("--db", url, "status")
        assert code == 0, out
        assert "unsupported database" not in out


def test_closed_pipe_exits_quietly(repo: Path) -> None:
    exe = shutil.which("campaign-gitops", path=str(Path(sys.executable).parent))
    assert exe
    read, write = os.pipe()
    os.close(read)  # the reader is gone before we write a byte: every write is EPIPE
    try:
        proc = subprocess.run([exe, "schema"], stdout=write, stderr=subprocess.PIPE,
                              text=True, cwd=repo, timeout=120)
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 141


READS = (["runs", "list"], ["runs", "show", "acme/q1/x"], ["communications"],
         ["communications", "list"], ["review", "list"], ["history", "q1"],
         ["client", "list"], ["suppressions", "list"])


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_read_commands_never_create_a_database(repo: Path, args: list[str]) -> None:
    code, out = invoke(*args)
    assert code == 1, out
    assert "no database at" in out and "campaign-gitops apply" in out
    assert not (repo / ".campaign-gitops/state.db").exists()


def test_status_without_a_database_shows_the_files_and_creates_nothing(repo: Path) -> None:
    code, out = invoke("status")
    assert code == 0, out
    assert "no database at" in out and "nothing applied" in out
    assert not (repo / ".campaign-gitops/state.db").exists()


def test_read_commands_on_an_empty_postgres_database(repo: Path, pg_url: str) -> None:
    code, out = invoke("--db", pg_url, "runs", "list")
    assert code == 1 and "no campaign-gitops tables" in out, out
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:
        assert not sqlalchemy.inspect(conn).get_table_names()
    engine.dispose()


def test_a_reply_that_matches_nobody_is_refused(repo: Path, tmp_path: Path) -> None:
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert invoke("--db", url, "apply", "--auto-approve")[0] == 0
    code, out = invoke("--db", url, "replies", "add", "--contact", "nobody@example.com",
                       "--kind", "reply")
    assert code == 1, out
    assert "nobody@example.com" in out and "--unmatched-ok" in out

    def count() -> int:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            n = conn.execute(sqlalchemy.text("SELECT count(*) FROM replies")).scalar_one()
        engine.dispose()
        return int(n)
    assert count() == 0
    code, out = invoke("--db", url, "replies", "add", "--contact", "nobody@example.com",
                       "--kind", "reply", "--unmatched-ok")
    assert code == 0 and "no matching lead" in out, out
    assert count() == 1


ESCAPES = ["\x1b]52;c;ZWNobyBwd25lZA==\x07", "\x1b]52;c;ZWNobw==\x1b\\", "\x1b[2J\x1b[1;1H",
           "\x9b31m", "\x9d52;c;eA==\x9c", "\x1bPq#0;2;0;0;0\x1b\\", "\x07\x08\x7f\x85",
           "\x1b]8;;https://evil.example\x07"]


@pytest.mark.parametrize("escape", ESCAPES, ids=repr)
def test_printable_strips_sequences_and_controls(escape: str) -> None:
    from campaign_gitops.textsafe import printable

    text = printable(f"Acme{escape} Pty\tLtd")
    assert text == "Acme Pty\tLtd"
    assert printable("a\r\nb", one_line=True) == "a b"


def test_lead_data_in_cli_tables_carries_no_escape_sequences(repo: Path,
                                                              tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert invoke("--db", url, "apply", "--auto-approve")[0] == 0
    contact = "x\x1b]52;c;ZWNobyBwd25lZA==\x07@example.com"
    code, out = invoke("--db", url, "replies", "add", "--contact", contact, "--kind", "reply",
                       "--unmatched-ok", "--body", "hi\x1b[2Jthere")
    assert code == 0, out
    assert "\x1b" not in out and "\x07" not in out and "x@example.com" in out


def _leads(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "sep"), [
    ("\ufeffEmail;First Name;Company;Company Technologies\n"
     "a@x.com;Ann;Acme, Inc;aws;gcp\n".replace("aws;gcp", '"aws;gcp"'), ";"),
    ("EMAIL\tFirst Name\tCompany\na@x.com\tAnn\tAcme, Inc\n", "\t"),
    ("email|first-name|company\na@x.com|Ann|Acme\n", "|"),
    ("Email,First Name,Company Technologies\na@x.com,Ann,aws;gcp;azure\n", ","),
])
def test_leads_import_sniffs_the_delimiter_and_reads_spreadsheet_headers(
        repo: Path, tmp_path: Path, text: str, sep: str) -> None:
    from campaign_gitops.runs.csvfile import delimiter

    path = _leads(tmp_path, "leads.csv", text)
    assert delimiter(path) == sep
    url = f"sqlite:///{tmp_path / 'l.db'}"
    code, out = invoke("--db", url, "leads", "import", str(path), "--format", "json")
    assert code == 0, out
    assert '"imported": 1' in out


def test_percentages_are_one_finding_and_confidence_scale_reads_them(
        repo: Path, tmp_path: Path) -> None:
    rows = "".join(f"l{i}@x.com,{50 + i}\n" for i in range(5))
    path = _leads(tmp_path, "leads.csv", "email,enrichment_confidence\n" + rows)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    code, out = invoke("--db", url, "leads", "import", str(path))
    assert code == 1
    assert out.count("looks like percentages") == 1, out
    assert "divide by 100 or pass --confidence-scale 100" in out
    code, out = invoke("--db", url, "leads", "import", str(path), "--confidence-scale", "100")
    assert code == 0 and "imported 5 lead(s)" in out, out


def test_rows_postgresql_would_refuse_are_findings_with_their_line(
        repo: Path, tmp_path: Path, db_url: str) -> None:
    long_email = "a" * 310 + "@example.com"
    path = _leads(tmp_path, "leads.csv", "email,company,company_employee_count\n"
                  "ok@x.com,Acme,10\n"
                  "nul@x.com,Ac\x00me,10\n"
                  f"big@x.com,Acme,{2**31}\n"
                  f"{long_email},Acme,1\n")
    code, out = invoke("--db", db_url, "leads", "import", str(path))
    assert code == 1, out
    assert "database error" not in out
    assert ":3: company contains a NUL character" in out
    assert ":4: company_employee_count" in out and "too large" in out
    assert ":5: email is 322 characters long" in out
    code, out = invoke("--db", db_url, "leads", "import", str(path), "--skip-invalid")
    assert code == 0 and "imported 1 lead(s)" in out, out


def test_deeply_nested_jsonl_reply_is_a_line_error(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    path.write_text('{"contact": "a@x.com", "kind": "reply"}\n'
                    + '{"body": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    code, out = invoke("--db", url, "replies", "import", str(path))
    assert code == 1, out
    assert ":2: nested too deeply" in out
    assert "RecursionError" not in out
