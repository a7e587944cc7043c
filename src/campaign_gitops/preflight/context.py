"""What every rule may look at besides its own resource: per-bundle indexes, built once.

Rules stay O(resources): names per (client, kind), campaigns per client, effective
steps per campaign and parsed placeholders per template are computed once per bundle
and cached here, never re-walked per rule.
"""

from __future__ import annotations

import hashlib
import weakref
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from campaign_gitops.config.bundle import Bundle, Entry, Key
from campaign_gitops.config.models import TIER_LIMITS, CampaignSpec, ClientSpec, Step
from campaign_gitops.config.placeholders import Placeholder, parse_placeholders
from campaign_gitops.config.project import ProjectConfig, Tier
from campaign_gitops.config.sequences import default_sequence, step_template
from campaign_gitops.findings import Location

T = TypeVar("T")


@dataclass(eq=False)
class RuleContext:
    bundle: Bundle
    config: ProjectConfig
    names_by_kind: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    campaigns_by_client: dict[str, list[Entry]] = field(default_factory=dict)
    _steps: dict[Key, list[Step]] = field(default_factory=dict)
    _defaults: dict[tuple[str, tuple[str, ...]], list[Step]] = field(default_factory=dict)
    _placeholders: dict[tuple[Key, str], list[Placeholder]] = field(default_factory=dict)
    _cache: dict[str, object] = field(default_factory=dict)
    _texts: dict[str, tuple[str, list[int]] | None] = field(default_factory=dict)
    _clients: dict[str, ClientSpec | None] = field(default_factory=dict)
    _templates: dict[Key, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, bundle: Bundle, config: ProjectConfig | None = None) -> RuleContext:
        ctx = cls(bundle, config or ProjectConfig())
        names: dict[tuple[str, str], list[str]] = defaultdict(list)
        campaigns: dict[str, list[Entry]] = defaultdict(list)
        for key, entry in bundle.entries.items():
            names[(key.client, key.kind)].append(key.name)
            if key.kind == "Campaign":
                campaigns[key.client].append(entry)
        ctx.names_by_kind = dict(names)
        ctx.campaigns_by_client = dict(campaigns)
        return ctx

    # ------------------------------------------------------------ lookups

    def get(self, client: str, kind: str, name: str | None) -> Entry | None:
        """Like Bundle.get, faster (a plain tuple finds the Key)."""
        if name is None:
            return None
        return self.bundle.entries.get((client, kind, name))  # type: ignore[call-overload]

    def client_spec(self, client: str) -> ClientSpec | None:
        if client not in self._clients:
            entry = self.get(client, "Client", client)
            self._clients[client] = entry.resource.spec if entry else None
        return self._clients[client]

    def names(self, client: str, kind: str) -> list[str]:
        return self.names_by_kind.get((client, kind), [])

    def has_client(self, client: str) -> bool:
        return client in self.names(client, "Client")

    def client_names(self) -> list[str]:
        return [c for (c, k) in self.names_by_kind if k == "Client"]

    def steps(self, entry: Entry) -> list[Step]:
        """The campaign's effective steps (its Sequence's, or the adapted default)."""
        steps = self._steps.get(entry.key)
        if steps is None:
            spec: CampaignSpec = entry.resource.spec
            if spec.sequence is not None:
                seq = self.get(entry.key.client, "Sequence", spec.sequence)
                steps = list(seq.resource.spec.steps) if seq else []
            else:
                dkey = (entry.key.client, tuple(spec.channels()))
                steps = self._defaults.get(dkey)
                if steps is None:
                    steps = default_sequence(spec, self.client_spec(entry.key.client))
                    self._defaults[dkey] = steps
            self._steps[entry.key] = steps
        return steps

    def templates_used(self, entry: Entry) -> tuple[str, ...]:
        """Names of the Templates a campaign's messages are written from (sorted)."""
        used = self._templates.get(entry.key)
        if used is None:
            spec: CampaignSpec = entry.resource.spec
            names = {step_template(s, spec) for s in self.steps(entry)}
            names.add(spec.template)
            names.discard(None)
            used = self._templates[entry.key] = tuple(sorted(names))  # type: ignore[arg-type]
        return used

    def placeholders(self, template: Entry, field_name: str) -> list[Placeholder]:
        """Parsed placeholders of a template's ``body`` or ``subject`` (cached)."""
        cache_key = (template.key, field_name)
        found = self._placeholders.get(cache_key)
        if found is None:
            text = getattr(template.resource.spec, field_name, None) or ""
            found = parse_placeholders(text)
            self._placeholders[cache_key] = found
        return found

    def tier_limits(self, tier: str) -> tuple[int, int]:
        """(ai_suggested, custom) campaigns a tier allows; campaign-gitops.yaml wins."""
        override = self.config.tiers.get(cast(Tier, tier))  # a Client's tier is one
        if override is not None:
            return (override.ai, override.custom)
        return TIER_LIMITS.get(tier, TIER_LIMITS["ignition"])

    def memo(self, name: str, build: Callable[[], T]) -> T:
        """A per-bundle value computed once by ``build()``."""
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]  # type: ignore[return-value]

    # ------------------------------------------------------------ positions in text

    def text_of(self, file: str) -> tuple[str, list[int]] | None:
        """A file's text as loaded and the offset of each line start (read once), or
        None when it can no longer be read or changed since it was loaded."""
        return self._text(file)

    def _text(self, file: str) -> tuple[str, list[int]] | None:
        if file not in self._texts:
            self._texts[file] = _read_text(self.bundle, file)
        return self._texts[file]

    def locate_in_scalar(self, entry: Entry, path: tuple[str | int, ...], value: str,
                         offset: int, length: int) -> Location:
        """The exact line/column of ``value[offset:offset+length]`` in the file.

        Works for block, plain and quoted scalars as long as the piece appears verbatim
        in the file (no escapes, not folded across lines); else the value's location.
        """
        fallback = entry.locate(path, value=True)
        loaded = self._text(entry.file)
        if loaded is None or length <= 0:
            return fallback
        text, starts = loaded
        if fallback.line - 1 >= len(starts):
            return fallback
        begin = starts[fallback.line - 1] + fallback.column - 1
        end = _next_position(entry, fallback, starts, len(text))
        needle = value[offset:offset + length]
        at = begin - 1
        for _ in range(_occurrences_before(value, needle, offset) + 1):
            at = text.find(needle, at + 1, end)
            if at == -1:
                return fallback
        line = bisect_right(starts, at)
        return Location(entry.file, line, at - starts[line - 1] + 1, fallback.path)


def _occurrences_before(value: str, needle: str, offset: int) -> int:
    count, at = 0, value.find(needle)
    while -1 < at < offset:
        count += 1
        at = value.find(needle, at + 1)
    return count


def _next_position(entry: Entry, here: Location, starts: list[int], size: int) -> int:
    """Where the next key after ``here`` starts in the document (bounds a scalar)."""
    best: tuple[int, int] | None = None
    for pos in entry.document.positions.values():
        for line, col in ((pos[0], pos[1]), (pos[2], pos[3])):
            if (line, col) > (here.line, here.column) and (best is None or (line, col) < best):
                best = (line, col)
    if best is None or best[0] - 1 >= len(starts):
        return size
    return starts[best[0] - 1] + best[1] - 1


def _read_text(bundle: Bundle, file: str) -> tuple[str, list[int]] | None:
    """The file's text as loaded (same bytes), with the offset of each line start."""
    path = Path(file) if Path(file).is_absolute() else bundle.root / file
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    result = bundle.files.get(file)
    if result is not None and result.sha256 and hashlib.sha256(raw).hexdigest() != result.sha256:
        return None  # changed since it was loaded
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    starts = [0]
    at = text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return text, starts


_CONTEXTS: weakref.WeakKeyDictionary[Bundle, RuleContext] = weakref.WeakKeyDictionary()


def context_for(bundle: Bundle, config: ProjectConfig | None = None) -> RuleContext:
    """The bundle's context, built once and reused (check_campaign_for_action per run)."""
    ctx = _CONTEXTS.get(bundle)
    wanted = config or ProjectConfig()
    if ctx is None or ctx.config != wanted \
            or sum(map(len, ctx.names_by_kind.values())) != len(bundle.entries):
        ctx = RuleContext.build(bundle, wanted)
        _CONTEXTS[bundle] = ctx
    return ctx
