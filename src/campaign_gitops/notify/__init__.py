"""Notifications: the daemon's events, deduplicated, to apprise URLs (notifier.py)."""
