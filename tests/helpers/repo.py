"""The example repository most tests start from, and ``make_repo`` that writes one.

``ACME`` is one client (acme, velocity tier, Australia/Sydney) with a goal, a segment, an
email template, a template writer, a rules reviewer and a draft campaign ``q1``; keys are
paths under the resources folder, values YAML (dedented when written). A test that needs
something else passes ``{**ACME, "acme/q1.yaml": ...}`` or its own files; repos that differ
in kind (many clients, another tier, generated campaigns) stay written out in their tests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

ACME = {
    "acme/client.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Client
        metadata: {name: acme}
        spec:
          tier: velocity
          timezone: Australia/Sydney
          resources: {emailDomain: acme.test}
        """,
    "acme/parts.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Goal
        metadata: {name: book-demo, client: acme}
        spec: {outcome: meeting, description: Book a demo}
        ---
        apiVersion: campaign-gitops/v1
        kind: Segment
        metadata: {name: cto-au, client: acme}
        spec: {countries: [AU], titles: [CTO]}
        ---
        apiVersion: campaign-gitops/v1
        kind: Template
        metadata: {name: intro, client: acme}
        spec:
          channel: email
          subject: "Hello {{first_name}}"
          body: "Hi {{first_name | there}}, unsubscribe: {{unsubscribe_url}}"
        ---
        apiVersion: campaign-gitops/v1
        kind: Writer
        metadata: {name: plain, client: acme}
        spec: {type: template}
        ---
        apiVersion: campaign-gitops/v1
        kind: Reviewer
        metadata: {name: rules, client: acme}
        spec: {type: rules}
        """,
    "acme/q1.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Campaign
        metadata: {name: q1, client: acme}
        spec:
          status: draft
          channel: email
          goal: book-demo
          segment: cto-au
          writer: plain
          reviewer: rules
          template: intro
          testRecipients: [qa@acme.test]
        """,
}


def make_repo(root: Path, files: dict[str, str] | None = None,
              folder: str = "campaigns") -> Path:
    """Write ``files`` (``ACME`` by default) under ``root/folder``, mark ``root`` as a git
    work tree (an empty ``.git``), and return the resources folder."""
    base = root / folder
    for name, text in (ACME if files is None else files).items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    if not (root / ".git").exists():  # a real repository's .git may be a file
        (root / ".git").mkdir()
    return base
