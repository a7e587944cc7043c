"""Untrusted text (lead data, replies, reasons from servers) made safe for a terminal.

A CSV's ``company`` can carry an OSC 52 sequence (writes the clipboard on some
terminals), a CSI sequence (moves the cursor, hides text) or C1 controls. ``printable``
removes whole escape sequences, then every remaining C0/C1 control character and DEL;
every CLI text renderer passes untrusted values through it (JSON output escapes them
itself and is left alone).
"""

from __future__ import annotations

import re

# ESC-introduced sequences (7-bit) and their 8-bit C1 forms, removed whole:
# CSI (ESC [ / 0x9B) params + final byte; OSC (ESC ] / 0x9D), DCS (ESC P / 0x90),
# SOS (ESC X / 0x98), PM (ESC ^ / 0x9E), APC (ESC _ / 0x9F) up to BEL or ST (ESC \ / 0x9C),
# or to the end of the text when unterminated; any other ESC plus one character.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x9c\x1b]*(?:\x07|\x9c|\x1b\\)?"
    r"|\x1b[\s\S]?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def printable(value: object, *, one_line: bool = False) -> str:
    """``value`` as text without terminal escape sequences or control characters.

    Tabs and newlines stay (``one_line``: newlines and carriage returns become one
    space, for table cells).
    """
    text = str(value)
    if one_line:
        text = _LINE_BREAKS.sub(" ", text)
    return _CONTROL.sub("", _SEQUENCE.sub("", text))
