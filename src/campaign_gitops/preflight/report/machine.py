"""``--format json``: exactly the shape of SPEC section 5."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaign_gitops.preflight.report.model import Report


def render_json(report: Report, *, color: bool = False) -> str:
    data = {"findings": [f.to_dict() for f in report.findings], "summary": report.summary()}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
