"""The command examples of the README and the docs pages are true: they run here.

Every ```console block of README.md and docs/**/*.md is run, in page order, in one fresh copy
of the example repository per page (campaigns/, examples/, schemas/), with the installed
console script. A block holds ``$ command`` lines, each followed by the output it prints
(stdout and stderr, as a terminal shows them). The output must match line for line, except:

- a line ``...`` (or ``…``) stands for any number of lines;
- trailing spaces are ignored (tables pad their last column; editors strip them);
- a ``# comment`` after a command is not part of it.

An HTML comment right before a block may prepare it or say why it cannot run here:

- ``<!-- example-setup: SHELL -->`` runs SHELL in the page's repository first (write a
  broken file, a CSV);
- ``<!-- example: not run, REASON -->`` skips the block (a daemon, a server, an API key);
  the test below lists every such block, so none is skipped without a reason in the page.

A command example outside a console block (a ``text`` or ``sh`` block with ``$ campaign-gitops``
lines) without such a "not run" comment fails
``test_every_command_example_is_checked_or_says_why_not``; and every ``campaign-gitops`` line of
a ``sh`` block or a console prompt, run or not, must name commands and options that exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})(?P<lang>[\w-]*)[^\n]*$")
MARK = re.compile(r"<!--\s*example(?P<kind>-setup)?:\s*(?P<text>.*?)\s*-->", re.S)
ELLIPSIS = {"...", "…"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    lines: list[str]
    setup: str = ""
    skip: str = ""
    commands: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, each with the example comment right before it."""
    text = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(text):
        m = FENCE.match(text[i])
        if not m:
            i += 1
            continue
        indent, ticks = len(m["indent"]), m["ticks"]
        end = i + 1
        while end < len(text) and text[end].strip() != ticks:
            end += 1
        body = [line[indent:] for line in text[i + 1:end]]
        before = "\n".join(text[max(0, i - 6):i])
        block = Block(page, i + 1, m["lang"], body)
        marks = list(MARK.finditer(before))
        tail = before[marks[-1].end():].strip() if marks else ""
        if marks and not tail:
            for mark in marks:
                if mark["kind"]:
                    block.setup = mark["text"]
                elif mark["text"].startswith("not run"):
                    block.skip = mark["text"]
        found.append(block)
        i = end + 1
    return found


def parse(block: Block) -> Block:
    for line in block.lines:
        if line.startswith("$ "):
            block.commands.append((line[2:], []))
        elif block.commands:
            block.commands[-1][1].append(line)
    return block


def console_blocks(page: Path) -> list[Block]:
    return [parse(b) for b in blocks(page) if b.lang == "console"]


def strip_comment(command: str) -> str:
    """``cmd   # why`` → ``cmd`` (a # inside quotes stays)."""
    m = re.search(r"\s{2,}#\s.*$|\s#\s[^'\"]*$", command)
    return command[:m.start()] if m else command


def matches(expected: list[str], actual: list[str]) -> bool:
    exp = [line.rstrip() for line in expected]
    act = [line.rstrip() for line in actual]
    while exp and not exp[-1]:
        exp.pop()
    while act and not act[-1]:
        act.pop()

    def match(i: int, j: int) -> bool:
        if i == len(exp):
            return j == len(act)
        if exp[i] in ELLIPSIS:
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and exp[i] == act[j] and match(i + 1, j + 1)

    return match(0, 0)


def example_repo(tmp: Path) -> Path:
    for name in ("campaigns", "examples", "schemas"):
        shutil.copytree(REPO / name, tmp / name)
    return tmp


def run(cwd: Path, command: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8",
           "TZ": "UTC", "COLUMNS": "200", "NO_COLOR": "1"}
    for name in ("CAMPAIGN_GITOPS_DB", "CAMPAIGN_GITOPS_DIR", "ANTHROPIC_API_KEY",
                 "GITHUB_STEP_SUMMARY", "CAMPAIGN_GITOPS_SIGNING_KEY"):
        env.pop(name, None)
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", command], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    return proc.stdout


PAGES_WITH_EXAMPLES = [p for p in PAGES if any(not b.skip for b in console_blocks(p))]


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_page_s_console_examples_print_what_the_page_shows(page: Path,
                                                                tmp_path: Path) -> None:
    repo = example_repo(tmp_path)
    for block in console_blocks(page):
        if block.skip:
            continue
        if block.setup:
            run(repo, block.setup)
        for command, expected in block.commands:
            actual = run(repo, strip_comment(command)).splitlines()
            assert matches(expected, actual), (
                f"{block.where}: `$ {command}` printed\n" + "\n".join(actual)
                + "\n--- the page shows ---\n" + "\n".join(expected))


def test_every_command_example_is_checked_or_says_why_not() -> None:
    unchecked = []
    for page in PAGES:
        for block in blocks(page):
            runs_us = [line for line in block.lines
                       if re.match(r"\s*\$ .*campaign-gitops", line)]
            if runs_us and block.lang != "console" and not block.skip:
                unchecked.append(f"{block.where}: a {block.lang or 'plain'} block with "
                                 f"`{runs_us[0].strip()}` (make it a console block)")
    assert unchecked == []


def test_the_readme_tour_is_checked() -> None:
    readme = [b for b in console_blocks(REPO / "README.md")]
    assert readme and not any(b.skip for b in readme)
    assert sum(len(b.commands) for b in readme) >= 6


def test_the_matcher() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "d"], ["a", "d"])
    assert not matches(["a", "d"], ["a", "b", "d"])
    assert matches(["x  "], ["x"])
    assert strip_comment("plan --prune       # exit 1") == "plan --prune"
    assert strip_comment("replies add --body 'a # b'") == "replies add --body 'a # b'"


def invocations(page: Path) -> list[tuple[str, str]]:
    """(where, command line) of every ``campaign-gitops …`` line in a sh/console block."""
    found = []
    for block in blocks(page):
        if block.lang not in ("sh", "bash", "console", "shell"):
            continue
        for n, line in enumerate(block.lines, start=block.line + 1):
            if block.lang == "console" and not line.startswith("$ "):
                continue  # output
            text = line.strip().removeprefix("$ ")
            for part in re.split(r"&&|\|\||;|\|", strip_comment(text)):
                words = part.strip().split()
                while words and "=" in words[0]:  # VAR=value before the command
                    words.pop(0)
                if words and words[0].rsplit("/", 1)[-1] == "campaign-gitops":
                    found.append((f"{page.relative_to(REPO)}:{n}", " ".join(words[1:])))
    return found


def unknown_in(args: str) -> str | None:
    """What of ``args`` the click commands do not know: a command or an option."""
    import shlex

    import click

    from campaign_gitops.cli.main import cli

    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    command: click.Command = cli
    ctx = click.Context(cli)
    params = list(cli.params)
    rest = []
    for word in words:
        if isinstance(command, click.Group) and not word.startswith("-") and not rest:
            sub = command.get_command(ctx, word)
            if sub is not None:
                command = sub
                params += sub.params
                continue
            if word.isupper() or word.startswith(("<", "[")) or "…" in word:
                continue  # a placeholder such as FILE or ID…
            return f"no command {word!r}"
        rest.append(word)
    known = {o for p in params if isinstance(p, click.Option) for o in [*p.opts, *p.secondary_opts]}
    for word in rest:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            if name not in known and name != "--help":
                return f"no option {name}"
    return None


def test_every_invocation_in_the_docs_names_commands_and_options_that_exist() -> None:
    wrong = [f"{where}: campaign-gitops {args}: {problem}"
             for page in PAGES for where, args in invocations(page)
             if (problem := unknown_in(args))]
    assert wrong == []
    assert sum(len(invocations(page)) for page in PAGES) >= 60  # the pages' examples are seen
    assert unknown_in("lint --bogus") == "no option --bogus"
    assert unknown_in("frob") == "no command 'frob'"
