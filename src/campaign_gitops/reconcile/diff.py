"""The field diff plan uses (kept in ``campaign_gitops.jsondiff`` so state queries share it)."""

from campaign_gitops.jsondiff import FieldDiff, diff, field_path, iter_diff, leaves

__all__ = ["FieldDiff", "diff", "field_path", "iter_diff", "leaves"]
