"""AI campaign suggestions from a client's ICP: ask Claude, validate, retry once.

``suggest`` checks the tier's free AI slots first (no API call when none are left),
asks Claude for a forced ``propose_campaigns`` tool call whose JSON schema comes from
``SuggestionSet``, validates the answer with pydantic and, when invalid, sends it back
once as a ``tool_result`` with ``is_error`` and the validation errors. Writing files is
``ai/suggest_files.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import anthropic
from anthropic.types import MessageParam
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator as _model_validator,
)
from pydantic.alias_generators import to_camel

from campaign_gitops.ai import prompts
from campaign_gitops.ai.client import (
    DEFAULT_MODEL,
    ToolUse,
    make_client,
    request_tool,
    tool_error_reply,
)
from campaign_gitops.config.bundle import Bundle
from campaign_gitops.config.models import NAME_PATTERN, TIER_LIMITS, CampaignSpec, ClientSpec
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.config.sequences import DEFAULT_STEPS
from campaign_gitops.findings import CampaignGitopsError

DEFAULT_COUNT = 3
SIZE_PATTERN = r"^[0-9]+(-[0-9]+|\+)$"
Target = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                   Field(min_length=1, max_length=20)]


class Suggestion(BaseModel):
    """One proposed campaign: its segment, its share of the client's leads and why."""

    # The docstrings of Suggestion and SuggestionSet are the tool schema's descriptions.
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel,
                              populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=63,
                      description="lowercase-hyphenated, unique, e.g. fintech-cfo-au")
    description: str = Field(min_length=1, max_length=500)
    industries: Target
    titles: Target
    company_sizes: list[Annotated[str, Field(pattern=SIZE_PATTERN)]] = Field(
        min_length=1, max_length=10, description='employee ranges: "51-200", "1000+"')
    locations: Target
    lead_allocation_pct: int = Field(ge=1, le=100)
    reasoning: str = Field(min_length=1, max_length=2000)
    priority: int = Field(ge=1, le=20, description="1 = launch first")

    def employee_range(self) -> tuple[int, int | None]:
        """(min, max) employees over all company sizes; max None when one is open-ended."""
        lows, highs = [], []
        for size in self.company_sizes:
            low, _, high = size.rstrip("+").partition("-")
            lows.append(int(low))
            highs.append(int(high) if high else None)
        return min(lows), None if None in highs else max(h for h in highs if h is not None)

    @field_validator("company_sizes")
    @classmethod
    def _sizes(cls, sizes: list[str]) -> list[str]:
        for size in sizes:
            low, _, high = size.rstrip("+").partition("-")
            if high and int(low) > int(high):
                raise ValueError(f"company size {size!r}: the low end is above the high end")
        return sizes


class SuggestionSet(BaseModel):
    """The proposed campaigns; their leadAllocationPct values add up to 100."""

    # Rules that need the request (count, free slots, taken names) travel in the
    # validation context.
    model_config = ConfigDict(extra="forbid", frozen=True)

    suggestions: list[Suggestion] = Field(min_length=1, max_length=20)

    @_model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> SuggestionSet:
        problems = set_problems([(s.name, s.lead_allocation_pct) for s in self.suggestions],
                                info.context or {})
        if problems:
            raise ValueError("; ".join(problems))
        return self


def set_problems(items: list[tuple[str, int]], rules: Mapping[str, Any]) -> list[str]:
    """Rules over the whole answer: shares add up to 100, count, slots, unique names."""
    count, free = rules.get("count"), rules.get("free_slots")
    taken: frozenset[str] = rules.get("taken", frozenset())
    problems = []
    total = sum(pct for _, pct in items)
    if total != 100:
        shares = " + ".join(str(pct) for _, pct in items)
        problems.append(f"leadAllocationPct values add up to {total} ({shares}), not 100")
    if count is not None and len(items) != count:
        problems.append(f"{len(items)} suggestions given, {count} asked for")
    if free is not None and len(items) > free:
        problems.append(f"{len(items)} suggestions exceed the {free} free AI campaign slot(s)")
    names = [name for name, _ in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"names used twice: {', '.join(dupes)}")
    clash = sorted(set(names) & taken)
    if clash:
        problems.append(f"names already taken by the client's resources: {', '.join(clash)}")
    return problems


def _raw_items(data: Any) -> list[tuple[str, int]] | None:
    """(name, share) of a raw answer, when its shape allows the whole-answer rules."""
    items = data.get("suggestions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    out = [(i.get("name"), i.get("leadAllocationPct")) for i in items]
    if not all(isinstance(n, str) and type(p) is int for n, p in out):
        return None
    return out  # type: ignore[return-value]


def tool_schema() -> dict[str, Any]:
    """The JSON schema of the tool input, refs inlined (one self-contained object)."""
    schema = SuggestionSet.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- slots and context


@dataclass(frozen=True, slots=True)
class Slots:
    tier: str
    limit: int
    used: tuple[str, ...]

    @property
    def free(self) -> int:
        return max(self.limit - len(self.used), 0)


def ai_slots(bundle: Bundle, client: str, spec: ClientSpec,
             config: ProjectConfig | None = None) -> Slots:
    """The tier's AI campaign limit and the client's existing ``ai_suggested`` campaigns."""
    override = config.tiers.get(spec.tier) if config else None
    limit = override.ai if override else TIER_LIMITS[spec.tier][0]
    used = tuple(sorted(e.key.name for e in bundle.of_kind("Campaign")
                        if e.key.client == client and e.resource.spec.type == "ai_suggested"))
    return Slots(spec.tier, limit, used)


def client_channels(spec: ClientSpec) -> list[str]:
    """The client's sending channels, in the default sequence's order."""
    have = spec.channels_available()
    ordered = [c for _, c, _, _ in DEFAULT_STEPS if c in have]
    return list(dict.fromkeys([*ordered, *sorted(have)]))


def taken_names(bundle: Bundle, client: str) -> frozenset[str]:
    """Names a suggestion may not reuse: the client's campaigns and segments."""
    return frozenset(k.name for k in bundle.entries
                     if k.client == client and k.kind in ("Campaign", "Segment"))


def _existing(bundle: Bundle, client: str) -> list[prompts.ExistingCampaign]:
    out = []
    for entry in bundle.of_kind("Campaign"):
        if entry.key.client == client:
            spec: CampaignSpec = entry.resource.spec
            out.append(prompts.ExistingCampaign(entry.key.name, spec.type, spec.description))
    return sorted(out, key=lambda c: c.name)


def client_spec_or_error(bundle: Bundle, client: str) -> ClientSpec:
    spec = bundle.client_spec(client)
    if spec is None:
        known = ", ".join(sorted(e.key.name for e in bundle.of_kind("Client"))) or "none"
        errors = sum(f.is_error for f in bundle.findings)
        broken = f"; {errors} file error(s) make some resources unknown: run " \
            "campaign-gitops lint" if errors else ""
        raise CampaignGitopsError(f"no Client named {client!r} in {bundle.resources_dir}",
                                  hint=f"known clients: {known}{broken}")
    return spec


# ---------------------------------------------------------------- asking Claude


def _errors_text(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        message = re.sub(r"^Value error, ", "", err["msg"])
        lines.append(f"- {where.lstrip('.') or 'answer'}: {message}")
    return "\n".join(lines)


def _validate(tool_use: ToolUse, context: Mapping[str, Any]) -> list[Suggestion] | str:
    try:
        answer = SuggestionSet.model_validate(tool_use.input, context=dict(context))
    except ValidationError as exc:
        text = _errors_text(exc)
        # Field errors stop pydantic before the whole-answer rules: add those too, so
        # the one retry hears about everything at once.
        items = _raw_items(tool_use.input)
        extra = [p for p in set_problems(items, context) if p not in text] if items else []
        return "\n".join([text, *(f"- answer: {p}" for p in extra)])
    return sorted(answer.suggestions, key=lambda s: (s.priority, s.name))


def suggest(
    bundle: Bundle,
    client: str,
    *,
    count: int | None = None,
    model: str = DEFAULT_MODEL,
    client_factory: Callable[[], anthropic.Anthropic] = make_client,
    config: ProjectConfig | None = None,
) -> list[Suggestion]:
    """Ask Claude for ``count`` campaign suggestions for ``client``; validated, sorted."""
    spec = client_spec_or_error(bundle, client)
    slots = ai_slots(bundle, client, spec, config)
    wanted = _wanted_count(slots, count)
    taken = taken_names(bundle, client)
    context = prompts.client_context(client, spec, client_channels(spec),
                                     _existing(bundle, client))
    messages: list[MessageParam] = [
        {"role": "user", "content": prompts.suggest_request(context, wanted, sorted(taken))}]
    rules = {"count": wanted, "free_slots": slots.free, "taken": taken}
    api = client_factory()
    first = _ask(api, model, messages, wanted)
    result = _validate(first, rules)
    if not isinstance(result, str):
        return result
    messages += [first.as_assistant_message(),
                 tool_error_reply(first, prompts.invalid_answer_reply(result))]
    second = _ask(api, model, messages, wanted)
    retried = _validate(second, rules)
    if isinstance(retried, str):
        raise CampaignGitopsError(
            f"Claude ({second.model}) answered with invalid suggestions twice; "
            f"nothing was written.\nFirst answer:\n{result}\nSecond answer:\n{retried}",
            hint="run it again, ask for fewer with --count, or try another --model",
        )
    return retried


def _ask(api: anthropic.Anthropic, model: str, messages: list[MessageParam],
         count: int) -> ToolUse:
    return request_tool(api, model=model, system=prompts.SUGGEST_SYSTEM, messages=messages,
                        tool_name=prompts.SUGGEST_TOOL_NAME, tool_schema=tool_schema(),
                        tool_description=prompts.SUGGEST_TOOL_DESCRIPTION,
                        max_tokens=min(8192, 1024 + 512 * count))


def _wanted_count(slots: Slots, count: int | None) -> int:
    if slots.free == 0:
        used = ", ".join(slots.used)
        raise CampaignGitopsError(
            f"no free AI campaign slots: tier {slots.tier} allows {slots.limit} "
            f"ai_suggested campaign(s) and the client has {len(slots.used)} ({used})",
            hint="delete or retype an ai_suggested campaign, or move the client to a "
                 "higher tier; no request was sent to the API",
        )
    if count is None:
        return min(DEFAULT_COUNT, slots.free)
    if count < 1 or count > slots.free:
        raise CampaignGitopsError(
            f"--count {count} does not fit: tier {slots.tier} has {slots.free} free AI "
            f"campaign slot(s) of {slots.limit}",
            hint=f"use --count between 1 and {slots.free}",
        )
    return count
