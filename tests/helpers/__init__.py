"""Helpers shared by the test folders: the example repository and ``make_repo``."""

from tests.helpers.repo import ACME, make_repo

__all__ = ["ACME", "make_repo"]
