"""What comes back from recipients: unsubscribes, replies, bounces, complaints, STOP.

A floor below ``runs/`` and above ``state/``: ``suppressions`` (the one place that
suppresses, un-suppresses and forgets, and answers "may I send to this contact?"),
``tokens`` (signed unsubscribe links), ``classify`` (bytes in, a verdict out),
``imap`` (fetch and move) and ``webhook`` (signed provider events, stop keywords).
"""
