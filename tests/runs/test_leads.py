"""Lead CSV import: validation with line numbers, all-or-nothing, upsert by email."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from campaign_gitops.cli.main import cli
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import Lead
from tests.runs.runs_helpers import lead_row, write_leads


def _count(db) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(Lead)).scalar_one()


def test_import_parses_every_column(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    path = write_leads(tmp_path / "l.csv", [lead_row(
        1, email="Ada@Example.COM", phone="+61 2 9999-0000", company_technologies="dbt; looker",
        timezone="Australia/Sydney", enrichment_confidence="0.9", email_status="Verified")])
    with db.session() as s:
        report = import_csv(s, path)
    assert (report.rows, report.imported, report.errors) == (1, 1, ())
    with db.session() as s:
        lead = s.execute(select(Lead)).scalar_one()
    assert lead.email == "ada@example.com"
    assert lead.phone == "+61299990000"
    assert lead.company_technologies == ["dbt", "looker"]
    assert (lead.timezone, lead.enrichment_confidence, lead.email_status) == (
        "Australia/Sydney", 0.9, "verified")
    assert lead.company_employee_count == 101 and lead.client is None


def test_bad_rows_are_reported_and_nothing_is_imported(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    rows = [lead_row(1), lead_row(2, email="not-an-email"), lead_row(3, phone="call me"),
            lead_row(4, company_employee_count="lots"), lead_row(5, timezone="Mars/Base"),
            lead_row(6, enrichment_confidence="1.5"), lead_row(1, first_name="Again")]
    path = write_leads(tmp_path / "l.csv", rows)
    with db.session() as s:
        report = import_csv(s, path)
    assert report.imported == 0
    assert [(e.line, e.reason.split(" ")[0]) for e in report.errors] == [
        (3, "email"), (4, "phone"), (5, "company_employee_count"), (6, "timezone"),
        (7, "enrichment_confidence"), (8, "duplicate")]
    assert "duplicate of line 2" in report.errors[-1].reason
    assert _count(db) == 0
    with db.session() as s:
        report = import_csv(s, path, skip_invalid=True)
    assert report.imported == 1 and _count(db) == 1


def test_reimport_updates_by_email_without_duplicates(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    with db.session() as s:
        import_csv(s, write_leads(tmp_path / "a.csv", [lead_row(i) for i in range(3)]))
    with db.session() as s:
        s.execute(Lead.__table__.update().where(Lead.email == "lead0000@example.com")
                  .values(client="acme"))
    changed = [lead_row(0, email="LEAD0000@example.com", title="CEO"), lead_row(7)]
    with db.session() as s:
        import_csv(s, write_leads(tmp_path / "b.csv", changed))
    with db.session() as s:
        lead = s.execute(select(Lead).where(Lead.email == "lead0000@example.com")).scalar_one()
        assert (lead.title, lead.client) == ("CEO", "acme")  # allocation is kept
    assert _count(db) == 4


def test_cli_reports_lines_and_exits_1(sqlite_url: str, tmp_path: Path):
    path = write_leads(tmp_path / "l.csv", [lead_row(1), lead_row(2, email="")])
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", sqlite_url, "leads", "import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: email is empty" in result.output
    ok = runner.invoke(cli, ["--db", sqlite_url, "leads", "import", str(path),
                             "--skip-invalid"])
    assert ok.exit_code == 0 and "imported 1 lead(s)" in ok.output


def test_unknown_column_is_refused(sqlite_url: str, tmp_path: Path):
    path = tmp_path / "l.csv"
    path.write_text("email,favourite_colour\na@b.co,blue\n")
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "leads", "import", str(path)])
    assert result.exit_code == 2
    assert "unknown column(s): favourite_colour" in result.output
