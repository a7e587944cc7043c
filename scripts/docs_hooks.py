"""MkDocs hook (mkdocs.yml ``hooks:``): the documentation pages generated at build time.

- ``reference/rules.md`` and ``reference/rules/<ID>.md``: every preflight rule from the
  registry (id, description, severities per action, the kinds it checks, its function's
  docstring) with its YAML cases from ``tests/preflight/cases/`` (files, action,
  expected findings), so the page is the code and the tests, never a copy of them.

- ``reference/configuration.md``: every key of ``campaign-gitops.yaml`` from the project
  configuration's JSON Schema, as ``campaign-gitops schema`` writes it (the model's own).
- ``reference/openapi.json``: the HTTP API's OpenAPI document, from the web app itself.

Nothing here is written into ``docs/``: the pages exist only in the built site.

And one rewrite: a link from a page to a repository file outside ``docs/``
(``[compose](../deploy/compose.yaml)``, right when the page is read on the forge) is
shown in the site as the file's path in code, since the site holds only ``docs/``.
"""

from __future__ import annotations

import inspect
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from campaign_gitops.config.schema import all_schemas
from campaign_gitops.preflight.registry import ACTIONS, Conditional, Rule
from campaign_gitops.preflight.rules import all_rules

CASES_DIR = Path("tests/preflight/cases")
BASE_REPO = Path("tests/preflight/base_repo.yaml")


def _md(docstring: str) -> str:
    """A reST-flavoured docstring as markdown: ``code`` becomes `code`."""
    return re.sub(r"``(.+?)``", r"`\1`", inspect.cleandoc(docstring))


def _cell(cell: Any) -> str:
    if cell is None:
        return "—"
    return cell.label if isinstance(cell, Conditional) else str(cell)


def _severity_table(rule: Rule) -> str:
    rows = ["| kind | " + " | ".join(ACTIONS) + " |", "|---|" + "---|" * len(ACTIONS)]
    kinds = ", ".join(rule.kinds) if rule.kinds else "any"
    others = [k for k in rule.kinds if k not in rule.by_kind]
    label = ", ".join(others) if rule.by_kind else kinds
    rows.append(f"| {label} | " + " | ".join(_cell(rule.severities[a]) for a in ACTIONS)
                + " |")
    for kind, cells in rule.by_kind.items():
        rows.append(f"| {kind} | " + " | ".join(_cell(cells[a]) for a in ACTIONS) + " |")
    return "\n".join(rows)


def _fence(text: str, lang: str = "yaml", title: str = "") -> str:
    ticks = "````" if "```" in text else "```"
    head = f'{ticks}{lang} title="{title}"' if title else f"{ticks}{lang}"
    return f"{head}\n{text.rstrip()}\n{ticks}"


def _cell_text(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _case(case: dict[str, Any], source: str) -> str:
    action = case.get("action") or "lint"
    parts = [f"### {case['name']}", ""]
    where = ("on [the base repository](../rules.md#the-base-repository-of-the-cases)"
             if case.get("base", True) else "on an empty repository")
    parts.append(f"`campaign-gitops lint{'' if action == 'lint' else ' --action ' + action}`"
                 f" {where}, with these files (`{source}`):")
    parts.append("")
    if case.get("config"):
        parts += [_fence(yaml.safe_dump(case["config"], sort_keys=False),
                         title="campaign-gitops.yaml"), ""]
    for name, text in case["files"].items():
        parts += [_fence(text, title=name), ""]
    checked = case.get("check")
    expect = case.get("expect") or []
    if not expect:
        what = ", ".join(checked) if checked else "this rule"
        parts += [f"No finding of {what}.", ""]
    else:
        parts += ["| rule | severity | where | message contains |", "|---|---|---|---|"]
        for f in expect:
            where_ = f"{f['file']}:{f['line']}:{f['column']}"
            parts.append(f"| {f['rule']} | {f['severity']} | `{where_}` | "
                         f"{_cell_text(f.get('message', ''))} |")
        parts.append("")
    return "\n".join(parts)


def rule_pages(root: Path) -> dict[str, str]:
    """``{path under docs: markdown}`` for the rules index and one page per rule."""
    cases: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for path in sorted((root / CASES_DIR).glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for case in data["cases"]:
            cases[data["rule"]].append((case, f"{CASES_DIR}/{path.name}"))
    rules = all_rules()
    index = [
        "# Preflight rules",
        "",
        "Generated at every build from the rule registry (`preflight/rules/`: each rule's",
        "id, severities and docstring) and the rule's YAML cases under",
        f"`{CASES_DIR}/`, which the test suite runs: what these pages show is what",
        "the tests check. `campaign-gitops lint --list-rules` prints the same table.",
        "",
        "A rule's severity depends on the action being checked: `lint` alone checks what",
        "the campaign's declared runs need plus the `lint` column; `lint --action run`",
        "(and `test_run`, `schedule`) checks one action's column; `—` means not checked.",
        "Warnings can be silenced per resource with the annotation",
        '`campaign-gitops/disable: "PF015,PF006"` and raised to errors in',
        "`campaign-gitops.yaml` (`rules: {PF015: error}`); errors are never lowered.",
        "",
        "| id | rule | " + " | ".join(ACTIONS) + " |",
        "|---|---|" + "---|" * len(ACTIONS),
    ]
    pages: dict[str, str] = {}
    for rule in rules:
        index.append(f"| [{rule.id}](rules/{rule.id}.md) | {_cell_text(rule.description)} | "
                     + " | ".join(_cell_text(rule.severity_label(a)) for a in ACTIONS) + " |")
        body = [f"# {rule.id}: {rule.description}", "", _severity_table(rule), "",
                _md(rule.doc), ""]
        own = cases.get(rule.id, [])
        if own:
            body += ["## Cases", "",
                     f"From `{CASES_DIR}/`, run by `tests/preflight/test_cases.py`.",
                     ""]
            body += [_case(case, source) for case, source in own]
        pages[f"reference/rules/{rule.id}.md"] = "\n".join(body).rstrip() + "\n"
    base = (root / BASE_REPO).read_text()
    index += ["", "## The base repository of the cases", "",
              f"Unless a case says otherwise, its files are added to this repository "
              f"(`{BASE_REPO}`: path → file):", "", _fence(base)]
    pages["reference/rules.md"] = "\n".join(index).rstrip() + "\n"
    return pages


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its $ref and its ``X | None`` anyOf unwrapped."""
    if "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items()
                                                          if k != "$ref"}}
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        inner = _resolve(options[0], defs)
        node = {**inner, **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type(o) for o in node["anyOf"] if o.get("type") != "null")
    kind = node.get("type", "object" if "properties" in node else "")
    if kind == "array":
        return "list"
    if kind == "object" and "properties" not in node:
        return "map"
    return str(kind or "any")


def _limits(node: dict[str, Any]) -> str:
    parts = []
    bounds = [f"{sign} {node[key]}" for key, sign in (
        ("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if key in node]
    if bounds:
        parts.append(", ".join(bounds))
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`".replace("|", "\\|"))
    if "propertyNames" in node and "enum" in node["propertyNames"]:
        parts.append("keys: " + ", ".join(f"`{k}`" for k in node["propertyNames"]["enum"]))
    return "; ".join(parts)


def config_rows(schema: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(key path, type and limits, default, description) of every key, depth first."""
    defs = schema.get("$defs", {})
    rows: list[tuple[str, str, str, str]] = []

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, raw in props.items():
            node = _resolve(raw, defs)
            path = f"{prefix}{name}"
            default = raw.get("default", node.get("default", ""))
            flow = yaml.safe_dump(default, default_flow_style=True)
            shown = "" if default == "" else f"`{flow.strip().removesuffix('...').strip()}`"
            kind = _type(node)
            limits = _limits(node)
            rows.append((f"`{path}`", kind + (f" ({limits})" if limits else ""), shown,
                         _cell_text(raw.get("description") or node.get("description", ""))))
            if "properties" in node:
                walk(node["properties"], f"{path}.")
            items = _resolve(node["items"], defs) if isinstance(node.get("items"), dict) else {}
            if "properties" in items:
                walk(items["properties"], f"{path}[].")
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                value = _resolve(extra, defs)
                if "properties" in value:
                    walk(value["properties"], f"{path}.<name>.")

    walk(schema.get("properties", {}), "")
    return rows


def config_page() -> str:
    schema = all_schemas()["project.json"]
    lines = [
        "# Configuration keys",
        "",
        "Every key of `campaign-gitops.yaml`, generated at every build from the project",
        "configuration's JSON Schema (`schemas/project.json`, written by",
        "`campaign-gitops schema --out schemas/` from the model the loader validates with).",
        "`<name>` stands for a key you choose (a named transport, a tier), `[]` for each item",
        "of a list. How the file is read, and what the keys do together:",
        "[Configuration](../configuration.md).",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| {p} | {t} | {d} | {m} |" for p, t, d, m in config_rows(schema)]
    return "\n".join(lines) + "\n"


def openapi_document() -> str:
    """The web app's OpenAPI document (FastAPI builds it from the routes and models)."""
    import json
    import tempfile

    from campaign_gitops.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(f"sqlite:///{tmp}/openapi.db", plan_in_background=False)
        return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    generated = {**rule_pages(root), "reference/configuration.md": config_page(),
                 "reference/openapi.json": openapi_document()}
    for path, text in generated.items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files


OUTSIDE_LINK = re.compile(r"\[([^\]\n]+)\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    docs = Path(config.docs_dir).resolve()
    root = Path(config.config_file_path).parent.resolve()
    if page.file.abs_src_path is None:  # a generated page
        return markdown
    here = Path(page.file.abs_src_path).parent

    def repl(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        path = (here / target).resolve()
        if docs in path.parents or (root not in path.parents and path != root):
            return match.group(0)
        shown = path.relative_to(root).as_posix() + ("/" if target.endswith("/") else "")
        return label if label.startswith("`") else f"{label} (`{shown}`)"

    return OUTSIDE_LINK.sub(repl, markdown)


def _verbatim_paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Click's ``\\b`` paragraphs (kept as written by ``--help``) as fenced text blocks."""
    verbatim = False
    for line in lines:
        if line.strip() == "\b":
            verbatim = True
            yield "```text"
            continue
        if verbatim and not line.strip():
            verbatim = False
            yield "```"
        yield line
    if verbatim:
        yield "```"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """mkdocs-click renders a command's help as markdown, where click's ``\\b`` paragraphs
    (the Examples of every command) would be joined into one line: keep them verbatim."""
    from mkdocs_click import _docs

    original = _docs._make_description
    if not getattr(original, "_verbatim", False):
        def make_description(*args: Any, **kwargs: Any) -> Iterator[str]:
            return _verbatim_paragraphs(original(*args, **kwargs))

        make_description._verbatim = True  # type: ignore[attr-defined]
        _docs._make_description = make_description
    return config
