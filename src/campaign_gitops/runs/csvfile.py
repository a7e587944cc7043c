"""Reading the CSV files people import (leads, replies): broken files fail in words.

A file that is not UTF-8, a field over the csv module's limit (128 KiB) or a quoted
field that never closes (which would silently swallow the rest of the file) is a
CampaignGitopsError naming the file, line and column (and the field's column name),
with what to do; the caller imports nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from campaign_gitops.findings import CampaignGitopsError

FIELD_LIMIT = csv.field_size_limit()
ENCODING_HINT = ("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`, "
                 "or 'CSV UTF-8' in a spreadsheet) and import that")


def _open(path: Path) -> IO[str]:
    try:
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CampaignGitopsError(f"cannot read {path}: {exc.strerror}") from exc


def not_utf8(path: Path) -> CampaignGitopsError:
    """The error for a file that does not decode: where the first bad byte is."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(raw[:exc.start].decode("utf-8", "replace").lstrip("\ufeff")) + 1
                return CampaignGitopsError(
                    f"{path}:{number}:{column}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                    "nothing imported", ENCODING_HINT)
    return CampaignGitopsError(f"{path}: not UTF-8 text; nothing imported", ENCODING_HINT)


def read_text(path: Path) -> str:
    """The whole file as text (UTF-8, BOM allowed); undecodable bytes located."""
    try:
        with _open(path) as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise not_utf8(path) from None


DELIMITERS = ",;\t|"  # what spreadsheets export (a European locale writes ;)
_SAMPLE = 64 * 1024
_SEPARATORS = re.compile(r"[\s\-.]+")


def header_name(name: str) -> str:
    """A column name as the importers know it: ``Email``, `` First Name``, ``first-name``
    and a BOM-prefixed ``\ufeffemail`` become ``email`` and ``first_name``."""
    return _SEPARATORS.sub("_", name.replace("\ufeff", "").strip()).strip("_").lower()


def delimiter(path: Path) -> str:
    """The field separator of the file: sniffed from its start among , ; tab and |
    (a comma when nothing stands out, e.g. a file of one column)."""
    try:
        with _open(path) as handle:
            sample = handle.read(_SAMPLE)
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    if len(sample) == _SAMPLE and "\n" in sample:  # whole lines only
        sample = sample[:sample.rindex("\n") + 1]
    header = sample.split("\n", 1)[0]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = ""
    if found and found in header:
        return found
    # The header names hold no separator, so the one it uses is the file's.
    counts = {c: header.count(c) for c in DELIMITERS}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else ","


def rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str | None]]]]:
    """The header (names normalised: ``header_name``) and the rows as (first line, row),
    read lazily; the delimiter is sniffed (``delimiter``).

    Iterating raises CampaignGitopsError for a file the csv module cannot read right.
    """
    separator = delimiter(path)
    handle = _open(path)
    reader = csv.DictReader(handle, strict=True, delimiter=separator)
    try:
        header = [header_name(h) for h in _guard(path, lambda: reader.fieldnames, 1) or ()]
    except BaseException:
        handle.close()
        raise
    reader.fieldnames = header

    def walk() -> Iterator[tuple[int, dict[str, str | None]]]:
        with handle:
            while True:
                start = reader.line_num + 1
                row = _guard(path, lambda: next(reader, None), start)
                if row is None:
                    return
                yield start, row

    return header, walk()


def _guard(path: Path, read, start: int):  # type: ignore[no-untyped-def]
    try:
        return read()
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except csv.Error as exc:
        raise _csv_error(path, start, str(exc)) from None


def _csv_error(path: Path, start: int, message: str) -> CampaignGitopsError:
    header, line, column, field = _scan(path, start)
    where = f"{path}:{line}:{column}" if column else f"{path}:{start}"
    named = f" (field {field + 1}{', ' + header[field] if field < len(header) else ''})" \
        if field is not None else ""
    if "field larger than field limit" in message:
        return CampaignGitopsError(
            f"{where}: a field{named} is longer than {FIELD_LIMIT // 1024} KiB; "
            "nothing imported",
            "no lead or reply field is that long: look for a quote that opens there and "
            "never closes, or shorten the field")
    if "unexpected end of data" in message:
        return CampaignGitopsError(
            f"{where}: the quoted field{named} that opens here is never closed; "
            "nothing imported",
            'close the quote (a quote inside a quoted field is written twice: "")')
    return CampaignGitopsError(f"{where}: bad CSV quoting in the row starting on line {start}"
                               f"{named}: {message}; nothing imported",
                               'quote the whole field, writing a quote inside it twice: ""')


def _scan(path: Path, start: int) -> tuple[list[str], int, int | None, int | None]:
    """Where the record starting on line ``start`` goes wrong: (header, line, column,
    field index) of the field that is too long or whose quote never closes."""
    with _open(path) as handle:
        header_line = handle.readline()
        header = [h.strip() for h in next(csv.reader([header_line]), [])]
        for _ in range(start - 2):
            if not handle.readline():
                break
        line, column, field = start, 1, 0
        opened: tuple[int, int, int] | None = None
        size, quoted, closed, at_start = 0, False, False, True
        field_start = (start, 1)
        while char := handle.read(1):
            if quoted:
                quoted, closed = char != '"', char == '"'
                size += char != '"'
            elif char == '"' and (at_start or closed):  # opens, or "" inside quotes
                size += closed
                quoted, closed = True, False
                opened = opened if size else (line, column, field)
            elif char == ",":
                field, size, at_start, closed = field + 1, 0, True, False
                field_start = (line, column + 1)
                column += 1
                continue
            elif char == "\n":
                break
            elif closed and char != "\r":  # text after a closing quote: the bad spot
                return header, line, column, field
            else:
                size += 1
            at_start = False
            if size > FIELD_LIMIT:
                return header, field_start[0], field_start[1], field
            line, column = (line + 1, 1) if char == "\n" else (line, column + 1)
    if quoted and opened is not None:
        return header, *opened
    return header, start, None, None
