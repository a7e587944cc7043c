"""Suggestions → reviewable YAML files: one Segment and one draft Campaign each.

Files go where the example repo keeps them: ``<dir>/<client>/segments/<name>.yaml`` and
``<dir>/<client>/campaigns/<name>.yaml``, with the schema modeline. A campaign refers
to the client's goal, writer, reviewer, schedule (and template of its channel) when
the client has exactly one; otherwise the field is left out with a comment naming the
choices. Before anything is written the new files are loaded back together with the
repo and preflighted: any error other than the deliberately open fields refuses the
whole write. Writing is all-or-nothing and never overwrites without ``force``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from campaign_gitops.ai import prompts
from campaign_gitops.ai.suggest import Suggestion, client_channels
from campaign_gitops.config.bundle import Bundle, build_bundle
from campaign_gitops.config.discovery import discover, relative_name
from campaign_gitops.config.loader import load_bytes, load_file
from campaign_gitops.config.models import (
    ANNOTATION_REASONING,
    API_VERSION,
    ClientSpec,
    Resource,
)
from campaign_gitops.config.placeholders import parse_placeholders
from campaign_gitops.findings import CampaignGitopsError, Finding
from campaign_gitops.preflight.engine import run_preflight

ANNOTATION_SUGGESTED_BY = "campaign-gitops/suggested-by"
REFERENCE_KINDS = ("goal", "writer", "reviewer", "template", "schedule")
# The lint errors an open (left-to-fill) reference field is expected to cause.
OPEN_FIELD_RULES: dict[str, frozenset[str]] = {
    "goal": frozenset({"PF001"}),
    "writer": frozenset({"PF002", "PF019"}),
    "reviewer": frozenset({"PF003"}),
    "template": frozenset({"PF004", "PF019"}),
    "schedule": frozenset(),
}
AI_PLACEHOLDERS = frozenset({"SMART_PROMPT", "SMART_PROMPT_SUBJECT"})


@dataclass(frozen=True, slots=True)
class OpenField:
    """A reference left for the person to fill: the field and the client's choices."""

    field: str
    choices: tuple[str, ...]

    def comment(self) -> str:
        if not self.choices:
            return f"# {self.field}: the client has no {self.field} yet; add one and name it here"
        return (f"# {self.field}: the client has {len(self.choices)} "
                f"({', '.join(self.choices)}); pick one and uncomment:\n"
                f"# {self.field}: {self.choices[0]}")


@dataclass(frozen=True, slots=True)
class NewFile:
    path: Path
    file: str  # repo-relative
    text: str


@dataclass(frozen=True, slots=True)
class Proposal:
    files: tuple[NewFile, ...]
    open_fields: tuple[OpenField, ...]
    findings: tuple[Finding, ...]  # preflight findings in the new files (warnings, open refs)


# ---------------------------------------------------------------- references


def _names(bundle: Bundle, client: str, kind: str,
           keep: Callable[[Resource], bool] = lambda r: True) -> tuple[str, ...]:
    return tuple(sorted(e.key.name for e in bundle.of_kind(kind)
                        if e.key.client == client and keep(e.resource)))


def _template_ok(resource: Resource, channel: str, ai_writer: bool | None) -> bool:
    spec = resource.spec
    if spec.channel != channel:
        return False
    if ai_writer is False:  # a template writer cannot fill {{SMART_PROMPT}} (PF012)
        text = f"{spec.subject or ''}\n{spec.body}"
        return not any(p.name in AI_PLACEHOLDERS for p in parse_placeholders(text))
    return True


def check_use(bundle: Bundle, client: str, use: Mapping[str, str]) -> dict[str, str]:
    """References the person named (``--use writer=claude``), checked to exist."""
    for field, name in use.items():
        if field not in REFERENCE_KINDS:
            raise CampaignGitopsError(f"--use {field}={name}: unknown field {field!r}",
                                      hint=f"one of {', '.join(REFERENCE_KINDS)}")
        if bundle.get(client, field.capitalize(), name) is None:
            known = ", ".join(_names(bundle, client, field.capitalize())) or "none"
            raise CampaignGitopsError(
                f"--use {field}={name}: client {client!r} has no {field.capitalize()} "
                f"named {name!r}", hint=f"the client has: {known}")
    return dict(use)


def references(bundle: Bundle, client: str, channel: str, use: Mapping[str, str] | None = None
               ) -> tuple[dict[str, str], tuple[OpenField, ...]]:
    """The reference fields to set (named with ``use``, or the only candidate) and the
    ones left open for the person to fill."""
    chosen = check_use(bundle, client, use or {})
    open_fields: list[OpenField] = []
    for field in ("goal", "writer", "reviewer", "schedule"):
        names = _names(bundle, client, field.capitalize())
        if field in chosen:
            continue
        if len(names) == 1:
            chosen[field] = names[0]
        else:
            open_fields.append(OpenField(field, names))
    if "template" not in chosen:
        writer = bundle.get(client, "Writer", chosen.get("writer"))
        ai_writer = None if writer is None else writer.resource.spec.type == "anthropic"
        templates = _names(bundle, client, "Template",
                           lambda r: _template_ok(r, channel, ai_writer))
        if len(templates) == 1:
            chosen["template"] = templates[0]
        else:
            open_fields.append(OpenField("template", templates))
    return chosen, tuple(open_fields)


# ---------------------------------------------------------------- rendering


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = ">" if len(value) > 76 and "\n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, str | int) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def _modeline(path: Path, root: Path) -> str:
    schema = root / "schemas" / "resource.json"
    target = os.path.relpath(schema, path.parent) if schema.is_file() else \
        "https://campaign-gitops.dev/schemas/v1/resource.json"
    return f"# yaml-language-server: $schema={Path(target).as_posix()}"


def _document(kind: str, name: str, client: str, spec: dict[str, Any],
              labels: dict[str, str], annotations: dict[str, str]) -> str:
    metadata: dict[str, Any] = {"name": name, "client": client}
    if labels:
        metadata["labels"] = labels
    metadata["annotations"] = annotations
    doc = {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88,
                     default_flow_style=False)


def segment_spec(s: Suggestion) -> dict[str, Any]:
    low, high = s.employee_range()
    spec: dict[str, Any] = {"industries": list(s.industries), "countries": list(s.locations),
                            "employeeMin": low}
    if high is not None:
        spec["employeeMax"] = high
    spec["titles"] = list(s.titles)
    return spec


def campaign_spec(s: Suggestion, channel: str, chosen: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"description": s.description, "status": "draft",
                            "type": "ai_suggested", "channel": channel}
    for field in ("goal", "segment", "writer", "reviewer", "template", "schedule"):
        value = s.name if field == "segment" else chosen.get(field)
        if value:
            spec[field] = value
    spec["leadAllocationPct"] = s.lead_allocation_pct
    return spec


def _header(path: Path, root: Path, model: str, extra: str) -> str:
    return (f"{_modeline(path, root)}\n"
            f"# Suggested by {model} (campaign-gitops suggest, prompt "
            f"{prompts.PROMPT_VERSION}).\n# {extra}\n")


def client_folder(bundle: Bundle, client: str) -> Path:
    """``<dir>/<client>``: where the example repo keeps a client's files."""
    return bundle.resources_dir / client


def primary_channel_for(spec: ClientSpec) -> str:
    channels = client_channels(spec)
    return "email" if "email" in channels else channels[0]


def render_files(bundle: Bundle, client: str, suggestions: Sequence[Suggestion], *,
                 model: str, use: Mapping[str, str] | None = None
                 ) -> tuple[list[NewFile], tuple[OpenField, ...]]:
    spec = bundle.client_spec(client)
    assert spec is not None
    channel = primary_channel_for(spec)
    chosen, open_fields = references(bundle, client, channel, use)
    folder = client_folder(bundle, client)
    by = f"{model}, prompt {prompts.PROMPT_VERSION}"
    files: list[NewFile] = []
    for s in suggestions:
        seg_path = folder / "segments" / f"{s.name}.yaml"
        seg = _header(seg_path, bundle.root, model, f"The audience of campaign {s.name}.") + \
            _document("Segment", s.name, client, segment_spec(s), {},
                      {ANNOTATION_SUGGESTED_BY: by})
        camp_path = folder / "campaigns" / f"{s.name}.yaml"
        camp = _header(camp_path, bundle.root, model, "Review it; it starts as a draft.") + \
            _document("Campaign", s.name, client, campaign_spec(s, channel, chosen),
                      {"priority": str(s.priority)},
                      {ANNOTATION_REASONING: s.reasoning, ANNOTATION_SUGGESTED_BY: by})
        if open_fields:
            camp += "".join(_indent(f.comment()) for f in open_fields)
        files += [NewFile(seg_path, relative_name(seg_path, bundle.root), seg),
                  NewFile(camp_path, relative_name(camp_path, bundle.root), camp)]
    return files, open_fields


def _indent(comment: str) -> str:
    return "".join(f"  {line}\n" for line in comment.splitlines())


# ---------------------------------------------------------------- checking and writing


def check_files(bundle: Bundle, files: Sequence[NewFile], open_fields: Sequence[OpenField],
                *, config: Any = None) -> tuple[Finding, ...]:
    """Load the repo with the new files in place and preflight it (nothing on disk).

    Returns the findings in the new files; raises when one is an error not explained
    by an open reference field.
    """
    new = {f.file: f for f in files}
    results = [load_file(p, bundle.root) for p in discover([bundle.resources_dir])
               if relative_name(p, bundle.root) not in new]
    results += [load_bytes(f.text.encode(), f.file) for f in files]
    merged = build_bundle(results, bundle.root, bundle.resources_dir)
    found = [f for f in (*merged.findings, *run_preflight(merged, config=config))
             if f.location.file in new]
    allowed = frozenset().union(*(OPEN_FIELD_RULES[o.field] for o in open_fields))
    bad = [f for f in found if f.is_error and f.rule not in allowed]
    if bad:
        lines = "\n".join(f"  {f.location} {f.rule} {f.message}" for f in bad)
        raise CampaignGitopsError(
            f"the suggested files would not pass lint; nothing was written:\n{lines}",
            hint="this is a bug in suggest or a conflict with the repo; report it with "
                 "the output above")
    return tuple(sorted(found, key=Finding.sort_key))


def propose(bundle: Bundle, client: str, suggestions: Sequence[Suggestion], *, model: str,
            use: Mapping[str, str] | None = None, config: Any = None) -> Proposal:
    """The files for ``suggestions``, preflighted together with the repo (not written)."""
    files, open_fields = render_files(bundle, client, suggestions, model=model, use=use)
    findings = check_files(bundle, files, open_fields, config=config)
    return Proposal(tuple(files), open_fields, findings)


def write_files(files: Sequence[NewFile], *, force: bool = False) -> None:
    """Write every file or none: refuse existing files unless ``force``; temp + rename."""
    existing = [f.file for f in files if f.path.exists()]
    if existing and not force:
        raise CampaignGitopsError(
            f"refusing to overwrite {len(existing)} existing file(s): {', '.join(existing)}; "
            "nothing was written", hint="pass --force to overwrite them")
    temps: list[tuple[str, Path]] = []
    try:
        for f in files:
            f.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{f.path.name}.", suffix=".tmp",
                                       dir=f.path.parent)
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f.text)
            temps.append((tmp, f.path))
    except OSError as exc:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
        raise CampaignGitopsError(f"cannot write the suggested files: {exc}; "
                                  "nothing was written") from exc
    for tmp, path in temps:
        os.replace(tmp, path)
