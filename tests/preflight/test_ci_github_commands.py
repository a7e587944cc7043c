"""`lint --format github` read back the way the Actions runner reads workflow commands.

The parser below follows actions/runner ``ActionCommand.TryParseV2``: the command runs
from ``::`` to the next ``::``; properties split on ``,`` then on the first ``=``, and
are unescaped (``%0D %0A %3A %2C``, then ``%25``); the data after the second ``::`` is
unescaped (``%0D %0A``, then ``%25``). A property value holding a raw ``:`` or ``,``,
or any raw CR/LF, would be cut or split: the round trip below would not hold.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "campaign-gitops")
LINE = re.compile(
    r"^::(error|warning) "
    r"file=(?:[^%,:\r\n]|%25|%0D|%0A|%3A|%2C)+,line=[0-9]+,col=[0-9]+,title=[A-Z0-9]+"
    r"::(?:[^%\r\n]|%25|%0D|%0A)*$")


def unescape_property(value: str) -> str:
    for token, code in (("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C"), ("%", "%25")):
        value = value.replace(code, token)
    return value


def unescape_data(value: str) -> str:
    for token, code in (("\r", "%0D"), ("\n", "%0A"), ("%", "%25")):
        value = value.replace(code, token)
    return value


def parse_workflow_command(message: str) -> tuple[str, dict[str, str], str] | None:
    """Port of the runner's TryParseV2 (for the ``error``/``warning`` commands)."""
    message = message.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    props: dict[str, str] = {}
    if space > 0:
        for item in filter(None, info[space + 1:].strip().split(",")):
            pair = [p for p in item.split("=", 1) if p]
            if len(pair) == 2:
                props[pair[0]] = unescape_property(pair[1])
    return name, props, unescape_data(message[end + 2:])


CLIENT = """apiVersion: campaign-gitops/v1
kind: Client
metadata: {name: acme}
spec: {tier: velocity}
"""

GOAL = """apiVersion: campaign-gitops/v1
kind: Goal
metadata: {name: g%(i)d, client: acme}
spec:
  outcome: meeting
  "%(field)s": 1
"""

# File names the runner would split or cut without escaping: ':' and ',' end a property,
# '%' starts an escape, CR/LF end the command.
HOSTILE_NAMES = ["odd,name:100%.yaml", "line\nbreak.yaml", "carriage\rreturn.yaml",
                 "a%2Cb.yaml", "plain.yaml"]
HOSTILE_FIELDS = ["50%,off:now", "x::y", "%0A", "a=b,c=d", "trailing%"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    client = tmp_path / "campaigns" / "acme"
    client.mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (client / "client.yaml").write_text(CLIENT)
    for i, (name, field) in enumerate(zip(HOSTILE_NAMES, HOSTILE_FIELDS, strict=True)):
        (client / name).write_text(GOAL % {"i": i, "field": field})
    for i in range(len(HOSTILE_NAMES), 14):  # more than GitHub's 10 annotations per type
        (client / f"goal-{i}.yaml").write_text(GOAL % {"i": i, "field": f"extra{i}"})
    return tmp_path


def lint(repo: Path, fmt: str, summary: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run([CLI, "lint", "--no-cache", "--format", fmt], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_line_is_a_workflow_command_the_runner_reads_back_exactly(repo: Path) -> None:
    as_json = lint(repo, "json")
    expected = [(f["severity"], f["file"], str(f["line"]), str(f["column"]), f["rule"],
                 f["message"]) for f in json.loads(as_json.stdout)["findings"]]
    assert len(expected) == 14

    result = lint(repo, "github")
    assert result.returncode == 1
    lines = result.stdout.split("\n")
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == len(expected)
    parsed = []
    for line in commands:
        assert LINE.match(line), line
        command = parse_workflow_command(line)
        assert command is not None
        name, props, data = command
        assert list(props) == ["file", "line", "col", "title"]
        parsed.append((name, props["file"], props["line"], props["col"], props["title"], data))
    assert parsed == expected
    files = {p[1] for p in parsed}
    assert {f"campaigns/acme/{name}" for name in HOSTILE_NAMES} <= files
    for field in HOSTILE_FIELDS:  # data keeps ':', ',', '%' and '::' raw or escaped, intact
        assert any(p[5].startswith(f"unknown field {field!r} (") for p in parsed), field


def test_the_step_summary_carries_every_finding_beyond_ten(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = lint(repo, "github", summary)
    assert result.returncode == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, as GitHub expects
    rows = [line for line in text.splitlines() if line.startswith("| :")]
    assert len(rows) == 14 > 10
    assert all(row.count(" | ") == 4 for row in rows)  # a raw '|' or newline would break it
