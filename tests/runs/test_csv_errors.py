"""``leads import`` / ``replies import`` on broken files: one clear error naming the
file, line and column (and the field), what to do, and nothing imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from campaign_gitops.cli.main import cli
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import Lead, Reply
from tests.runs.runs_helpers import LEAD_FIELDS, lead_row, write_leads

GOOD = "lead0001@example.com,Ada\n"
HEADER = "email,first_name\n"
BROKEN = {
    # name: (file bytes, line:column, words in the message)
    "latin1": ((HEADER + GOOD + "b@x.no,Bj\xf8rn\n").encode("latin-1"), "3:10",
               "not UTF-8 text (byte 0xf8)"),
    "huge": ((HEADER + GOOD + "c@x.no," + "x" * 140_000 + "\n").encode(), "3:8",
             "a field (field 2, first_name) is longer than 128 KiB"),
    "unterminated": ((HEADER + GOOD + 'a@b.no,"x\n' + "d@x.no,Dee\n").encode(), "3:8",
                     "the quoted field (field 2, first_name) that opens here is never closed"),
    "after-quote": ((HEADER + GOOD + 'a@b.no,"x"y\n').encode(), "3:11",
                    "bad CSV quoting in the row starting on line 3 (field 2, first_name)"),
}


def _count(db_url: str, table: type) -> int:
    db = open_database(db_url)
    try:
        with db.session() as s:
            return int(s.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        db.dispose()


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("skip", [False, True])
def test_leads_import_of_a_broken_file_says_where_and_imports_nothing(
        db_url: str, tmp_path: Path, case: str, skip: bool):
    data, where, words = BROKEN[case]
    path = tmp_path / "leads.csv"
    path.write_bytes(data)
    args = ["--db", db_url, "leads", "import", str(path)] + (["--skip-invalid"] if skip else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}:{where}: {words}" in result.output
    assert "nothing imported" in result.output and "hint: " in result.output
    assert "Traceback" not in result.output
    assert _count(db_url, Lead) == 0


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_replies_import_of_a_broken_file_says_where_and_records_nothing(
        db_url: str, tmp_path: Path, case: str):
    data, where, words = BROKEN[case]
    leads = write_leads(tmp_path / "pool.csv", [lead_row(1)])
    assert CliRunner().invoke(cli, ["--db", db_url, "leads", "import", str(leads)]).exit_code == 0
    path = tmp_path / "replies.csv"
    path.write_bytes(data.replace(b"email,first_name", b"contact,kind", 1))
    result = CliRunner().invoke(cli, ["--db", db_url, "replies", "import", str(path)])
    assert result.exit_code == 2, result.output
    words = words.replace("first_name", "kind")
    assert f"{path}:{where}: {words}" in result.output
    assert _count(db_url, Reply) == 0


def test_replies_jsonl_not_utf8_says_where(db_url: str, tmp_path: Path):
    path = tmp_path / "replies.jsonl"
    path.write_bytes(b'{"contact": "a@b.no", "kind": "reply"}\n{"contact": "\xe9"}\n')
    result = CliRunner().invoke(cli, ["--db", db_url, "replies", "import", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2:14: not UTF-8 text (byte 0xe9)" in result.output


def test_a_multiline_quoted_field_and_escaped_quotes_still_import(db_url: str, tmp_path: Path):
    path = tmp_path / "leads.csv"
    row = lead_row(1, company='Acme "Rockets"\nDivision')
    write_leads(path, [row, lead_row(2)])
    assert LEAD_FIELDS[0] == "email"
    result = CliRunner().invoke(cli, ["--db", db_url, "leads", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 2 lead(s)" in result.output
