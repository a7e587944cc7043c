"""The sync states, in one place: the words people read and the daemon's metric labels.

Two vocabularies, each with its own audience:

- **What a person reads** (``campaign-gitops status``, the web UI, ``/api/v1``), Argo CD's
  words for what a plan of the files against the database finds: ``Synced``,
  ``OutOfSync`` (apply would change it), ``Orphan`` (no file defines it), ``Unknown``
  (its file failed to load, or there is no plan at all), ``Suspended``.
  ``reconcile.plan.sync_states`` computes them.
- **What the daemon counts** (``campaign_gitops_resources{state=...}``, documented in
  docs/daemon.md: an interface, never renamed): what its last pass did with each
  resource: ``synced``, ``held`` (its file failed, or a freeze window holds a change),
  ``error`` (the plan refused the change), ``suspended``, ``backoff`` (apply failed: it
  retries later), ``orphan``.

``SYNC_OF_DAEMON_STATE`` is the word a person reads for each daemon state. It is a
summary: a change held by a freeze window is ``held`` for the daemon but ``OutOfSync``
in ``status`` (whose plan knows why it was left alone).
"""

from __future__ import annotations

from typing import Final

# What a person reads (status, web, API); the order is the UI's
SYNCED: Final = "Synced"
OUT_OF_SYNC: Final = "OutOfSync"
ORPHAN: Final = "Orphan"
UNKNOWN: Final = "Unknown"
SUSPENDED: Final = "Suspended"
SYNC_STATES: Final = (SYNCED, OUT_OF_SYNC, ORPHAN, UNKNOWN, SUSPENDED)

# What the daemon counts: the label values of campaign_gitops_resources{state}
DAEMON_SYNCED: Final = "synced"
DAEMON_HELD: Final = "held"
DAEMON_ERROR: Final = "error"
DAEMON_SUSPENDED: Final = "suspended"
DAEMON_BACKOFF: Final = "backoff"
DAEMON_ORPHAN: Final = "orphan"
DAEMON_STATES: Final = (DAEMON_SYNCED, DAEMON_HELD, DAEMON_ERROR, DAEMON_SUSPENDED,
                        DAEMON_BACKOFF, DAEMON_ORPHAN)

# The word a person reads for each daemon state
SYNC_OF_DAEMON_STATE: Final = {
    DAEMON_SYNCED: SYNCED,
    DAEMON_HELD: UNKNOWN,  # mostly a file that failed to load; a frozen change: OutOfSync
    DAEMON_ERROR: OUT_OF_SYNC,
    DAEMON_SUSPENDED: SUSPENDED,
    DAEMON_BACKOFF: OUT_OF_SYNC,
    DAEMON_ORPHAN: ORPHAN,
}
