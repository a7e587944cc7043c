"""``preview --diff BASE_REF``: what a change does to the messages, for a pull request.

Every campaign whose resolved snapshot (the campaign with its templates, sequence,
writer, reviewer... what a run pins) differs between the git ref ``BASE_REF`` and the
working tree is previewed on both sides for the sample lead (deterministic, no database),
and each step whose message changed is shown as a unified diff in markdown.
"""

from __future__ import annotations

import difflib
import io
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from campaign_gitops.config.bundle import Bundle, load_bundle
from campaign_gitops.config.resolved import resolve_campaign
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.preview import Preview, PreviewMessage, preview


def bundle_at(root: Path, resources_dir: Path, ref: str) -> Bundle:
    """The resources as they are at git ``ref`` (read from ``git archive``)."""
    try:
        relative = resources_dir.resolve().relative_to(root.resolve())
    except ValueError:
        raise CampaignGitopsError(f"{resources_dir} is not inside the repo {root}",
                                  "run from the repo root") from None
    done = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref, "--",
                           relative.as_posix()], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise CampaignGitopsError(f"cannot read {relative} at {ref!r}: "
                                  f"{message[-1] if message else 'git archive failed'}",
                                  "pass a git ref that exists (e.g. origin/main)")
    folder = Path(tempfile.mkdtemp(prefix="campaign-gitops-base-"))
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(folder, filter="data")
    return load_bundle(folder / relative, folder)


def _configs(bundle: Bundle) -> dict[str, dict[str, Any]]:
    return {f"{e.key.client}/{e.key.name}": resolve_campaign(e, bundle)
            for e in bundle.of_kind("Campaign") if not bundle.is_held(e)}


def _text(message: PreviewMessage | None) -> list[str]:
    if message is None:
        return []
    head = [f"[{message.channel}] from {message.sender} · {message.verdict}"
            + (f" ({message.reason})" if message.reason else "")]
    subject = [f"Subject: {message.subject}"] if message.subject else []
    return head + subject + message.body.splitlines()


def _by_step(result: Preview | None) -> dict[int, PreviewMessage]:
    return {m.step: m for m in result.messages} if result is not None else {}


def diff_markdown(project: Any, base_ref: str, *, only: str | None = None) -> str:
    """Markdown: per changed campaign, a diff of each changed step's message."""
    before = _configs(bundle_at(project.root, project.resources_dir, base_ref))
    after = _configs(load_bundle(project.resources_dir, project.root))
    lines = [f"### campaign-gitops preview: messages changed since `{base_ref}`", ""]
    changed = 0
    for name in sorted(set(before) | set(after)):
        if only is not None and only not in (name, name.split("/", 1)[1]):
            continue
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        old_steps = _by_step(preview(name, old, []) if old is not None else None)
        new_steps = _by_step(preview(name, new, []) if new is not None else None)
        parts: list[str] = []
        for step in sorted(set(old_steps) | set(new_steps)):
            a, b = _text(old_steps.get(step)), _text(new_steps.get(step))
            if a == b:
                continue
            diff = difflib.unified_diff(a, b, f"{base_ref}", "this change", lineterm="", n=3)
            parts += [f"**Step {step}**", "", "```diff", *list(diff)[2:], "```", ""]
        if not parts:
            continue
        changed += 1
        what = "new campaign" if old is None else "removed" if new is None else "changed"
        lines += [f"#### `{name}` ({what})", "", *parts]
    if not changed:
        lines.append("No campaign's messages change.")
    else:
        lines.insert(2, "Written for the sample lead by the template writer; "
                        "nothing is stored or sent.")
        lines.insert(3, "")
    return "\n".join(lines).rstrip("\n") + "\n"
