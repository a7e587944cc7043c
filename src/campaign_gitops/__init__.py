"""campaign-gitops: outreach campaigns as code."""

__version__ = "0.1.0"
