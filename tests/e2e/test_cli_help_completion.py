"""Every command's help shows an example; shell completion works for bash, zsh and fish."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from campaign_gitops.cli.main import cli, load_all_commands

CLI = str(Path(sys.executable).parent / "campaign-gitops")


def every_command() -> Iterator[tuple[str, click.Command]]:
    load_all_commands()

    def walk(cmd: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                yield from walk(cmd.commands[name], f"{path} {name}")

    yield from walk(cli, "campaign-gitops")


@pytest.mark.parametrize(("path", "command"),
                         [pytest.param(p, c, id=p) for p, c in every_command()])
def test_help_shows_an_example(path: str, command: click.Command) -> None:
    """Every command and group, without exceptions: its help has an example using it."""
    text = command.get_help(click.Context(command, info_name=path))
    assert "Example" in text, f"`{path} --help` has no example"
    examples = text.split("Example", 1)[1]
    assert "campaign-gitops" in examples, f"`{path} --help`: the example is not a command line"
    assert path in " ".join(examples.split()), f"`{path} --help`: the example does not use it"


def complete(shell: str, words: str, cword: int) -> str:
    env = {"PATH": str(Path(sys.executable).parent), "COMP_WORDS": words,
           "COMP_CWORD": str(cword), "_CAMPAIGN_GITOPS_COMPLETE": f"{shell}_complete"}
    return subprocess.run([CLI], env=env, capture_output=True, text=True, timeout=60).stdout


def test_bash_completes_commands_and_choices() -> None:
    assert complete("bash", "campaign-gitops li", 1).split() == ["plain,lint"]
    assert complete("bash", "campaign-gitops lint --format ", 3).split() == [
        "plain,text", "plain,json", "plain,github", "plain,sarif"]
    assert "plain,init" in complete("bash", "campaign-gitops ", 1).split()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_sourceable(shell: str) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "_CAMPAIGN_GITOPS_COMPLETE": f"{shell}_source"}
    script = subprocess.run([CLI], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "_CAMPAIGN_GITOPS_COMPLETE" in script
    if shell == "bash":
        check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
