"""Loading resource files: reading, documents with positions, findings.

Every problem becomes a Finding (rule ``SCHEMA``), never an exception: syntax errors
with the parser's position, what ``yaml12.Builder`` refuses (duplicate keys, tags
that are not plain data, alias bombs, deep nesting), oversized files, bytes that are
not UTF-8 and symlinks that leave the repository. YAML 1.2 itself (core scalars, the
composer, the builder) is ``yaml12.py``; the identity of a document that does not
load is recovered by ``recover.py``; finding and naming the files is ``discovery.py``.
Each file's comment candidates, and whether its text can hold a secret at all, are kept
for the secret scan (PF016).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from campaign_gitops.config.discovery import relative_name
from campaign_gitops.config.recover import (
    BrokenDocument,
    broken_from_node,
    broken_from_text,
    unread_text,
)
from campaign_gitops.config.yaml12 import (
    CHEAP_DEPTH_BOUND,
    MAX_DEPTH,
    Builder,
    Composer,
    Position,
    Problem,
    nesting_bound,
    plain_documents,
    too_deep,
)
from campaign_gitops.findings import Finding, Location, Severity
from campaign_gitops.secret_screen import holds_no_secret

MAX_FILE_BYTES = 1024 * 1024


def pointer(path: tuple[str | int, ...]) -> str:
    """JSON pointer (RFC 6901) of a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@dataclass(eq=False, slots=True)
class Document:
    """One YAML document: plain data plus the position of every key and value."""

    file: str
    index: int
    data: Any
    line: int
    column: int
    recorded: dict[tuple[str | int, ...], Position] | None = None
    text_hash: str = ""
    source: LazyPositions | None = None

    @property
    def positions(self) -> dict[tuple[str | int, ...], Position]:
        """Positions of every key and value; parsed again on first use when loaded lazily."""
        if self.recorded is None:
            self.recorded = self.source.of(self.index) if self.source is not None else {}
        return self.recorded

    def locate(self, path: tuple[str | int, ...] = (), *, value: bool = False) -> Location:
        """The location of ``path``: its key (or value), else its nearest ancestor."""
        probe = tuple(path)
        while probe:
            pos = self.positions.get(probe)
            if pos is not None:
                line, col = (pos[2], pos[3]) if value else (pos[0], pos[1])
                return Location(self.file, line, col, pointer(path))
            probe = probe[:-1]
        return Location(self.file, self.line, self.column, pointer(path))


class LazyPositions:
    """A file's text, parsed again with positions only when a finding needs a place.

    Most files have no finding, so the first pass skips recording positions; the
    second parse (same text, same parser) yields the same documents, with positions.
    With ``path`` instead of ``text`` the file is read then (a parse-cache hit).
    """

    __slots__ = ("_by_index", "file", "path", "text")

    def __init__(self, text: str | None, file: str, path: str | None = None) -> None:
        self.text = text
        self.file = file
        self.path = path
        self._by_index: dict[int, dict[tuple[str | int, ...], Position]] | None = None

    def of(self, index: int) -> dict[tuple[str | int, ...], Position]:
        if self._by_index is None:
            text = self.text
            if text is None and self.path is not None:
                try:
                    with open(self.path, "rb") as fh:
                        text = fh.read().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    text = ""
            again = parse_text(text or "", self.file, record_positions=True)
            self._by_index = {d.index: d.positions for d in again.documents}
            self.text = None
        return self._by_index.get(index, {})



# A comment: (line, column of the '#', its text). A candidate: a '#' at a line start or
# after a blank, which may still lie inside a quoted or block scalar.
Comment = tuple[int, int, str]


@dataclass(slots=True)
class FileResult:
    """Everything one file yielded: its documents and the findings of loading it.

    ``broken``: the documents that did not load, by identity (for "does not load"
    messages); ``comments``: the file's comment candidates and ``secret_free``: its text
    can hold no secret (``secret_screen.holds_no_secret``), both for the secret scan.
    """

    file: str
    sha256: str
    documents: list[Document] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    broken: list[BrokenDocument] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    secret_free: bool = False

    @property
    def failed(self) -> bool:
        return any(f.is_error for f in self.findings)


def _finding(file: str, line: int, column: int, message: str, hint: str = "",
             path: str = "") -> Finding:
    return Finding("SCHEMA", Severity.ERROR, Location(file, line, column, path), message,
                   hint=hint)



def _line_col_of_offset(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def _offset_line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _syntax_finding(file: str, text: str, exc: yaml.MarkedYAMLError) -> Finding:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.context and exc.problem:
        message += f" ({exc.context}"
        ctx = exc.context_mark
        if ctx is not None and (ctx.line, ctx.column) != (line - 1, col - 1):
            message += f" started at line {ctx.line + 1}, column {ctx.column + 1}"
        message += ")"
    hint = "fix the indentation or quoting at this position"
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        hint = "YAML does not allow tabs for indentation: use spaces"
    return _finding(file, line, col, message, hint)


def comments_of(text: str) -> list[Comment]:
    """Every comment candidate of a text: (line, column, text from the '#' to the end of
    its line) of each '#' at the start of a line or after a space or tab."""
    out: list[Comment] = []
    find, at = text.find, text.find("#")
    line, counted = 1, 0
    while at != -1:
        if at and text[at - 1] not in " \t\n":
            at = find("#", at + 1)
            continue
        end = find("\n", at)
        if end == -1:
            end = len(text)
        line += text.count("\n", counted, at)
        counted = at
        out.append((line, at - text.rfind("\n", 0, at), text[at:end]))
        at = find("#", end)
    return out


def parse_text(text: str, file: str, *, record_positions: bool = True,
               sha256: str = "", lazy_positions: bool = False) -> FileResult:
    """Parse one file's text into documents; problems become findings.

    ``lazy_positions``: record no positions now; ``Document.positions`` parses the
    text again the first time a position is asked for (findings are rare).
    """
    result = FileResult(file=file, sha256=sha256, comments=comments_of(text),
                        secret_free=holds_no_secret(text))
    lazy = LazyPositions(text, file) if lazy_positions else None
    if lazy is not None:
        record_positions = False
    try:
        if nesting_bound(text) > CHEAP_DEPTH_BOUND:
            deep = too_deep(text)
            if deep is not None:
                _unreadable(result, text, _finding(
                    file, deep.line + 1, deep.column + 1,
                    f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure"))
                return result
        if not record_positions:
            plain = plain_documents(text)
            if plain is not None:
                result.documents = [Document(file, index, data, line, column,
                                             None if lazy is not None else {}, sha256, lazy)
                                    for index, data, line, column in plain]
                return result
        loader = Composer(text)
    except yaml.MarkedYAMLError as exc:
        _unreadable(result, text, _syntax_finding(file, text, exc))
        return result
    except yaml.YAMLError as exc:
        _unreadable(result, text, _reader_finding(file, text, exc))
        return result
    index = 0
    read_lines = 0  # lines of the text composed so far (the rest is lost on a syntax error)
    try:
        while loader.check_node():
            node = loader.get_node()
            read_lines = node.end_mark.line
            builder = Builder(record_positions)
            mark = node.start_mark
            try:
                data = builder.build(node, (), 0)
            except Problem as problem:
                m = problem.node.start_mark
                finding = _finding(file, m.line + 1, m.column + 1, problem.message,
                                   problem.hint)
                result.findings.append(finding)
                broken = broken_from_node(node, finding.location)
                if broken is not None:
                    result.broken.append(broken)
                index += 1
                continue
            if data is not None:  # an empty document (e.g. a trailing ---) is no resource
                result.documents.append(Document(
                    file, index, data, mark.line + 1, mark.column + 1,
                    None if lazy is not None else builder.positions, sha256, lazy))
            index += 1
    except yaml.MarkedYAMLError as exc:
        _unreadable(result, unread_text(text, read_lines), _syntax_finding(file, text, exc))
    except yaml.YAMLError as exc:
        _unreadable(result, unread_text(text, read_lines), _reader_finding(file, text, exc))
    except RecursionError:  # the pure-Python composer on a deep document
        result.findings.append(_finding(file, 1, 1, f"nesting deeper than {MAX_DEPTH} levels",
                                        "flatten the structure"))
    finally:
        loader.dispose()
    return result


def _unreadable(result: FileResult, unread: str, finding: Finding) -> None:
    """Record an error that stopped the parser, and what the unread text declares."""
    result.findings.append(finding)
    result.broken.extend(broken_from_text(unread, finding.location))


def _reader_finding(file: str, text: str, exc: yaml.YAMLError) -> Finding:
    """A reader error (a control character, ...) at its character position."""
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line, col = _offset_line_col(text, position)
        char = getattr(exc, "character", None)
        code = ord(char) if isinstance(char, str) else char
        what = (f"character U+{code:04X} is not allowed in YAML" if isinstance(code, int)
                else "invalid character")
        return _finding(file, line, col, f"YAML error: {what}",
                        "remove the control character or quote it as an escape")
    return _finding(file, 1, 1, f"YAML error: {exc}")


def _undecodable(raw: bytes, file: str, sha: str, finding: Finding) -> FileResult:
    """A file that is no YAML text, with the identities its text declares (so what
    refers to them says they do not load, and where)."""
    result = FileResult(file, sha)
    _unreadable(result, raw.decode("utf-8", errors="replace").replace("\x00", " "), finding)
    return result


def load_bytes(raw: bytes, file: str, *, record_positions: bool = True,
               max_bytes: int = MAX_FILE_BYTES, lazy_positions: bool = False) -> FileResult:
    """Decode and parse one file's bytes."""
    sha = hashlib.sha256(raw).hexdigest()
    if len(raw) > max_bytes:
        return FileResult(file, sha, findings=[_finding(
            file, 1, 1, f"file is {len(raw)} bytes, over the limit of {max_bytes}",
            "split it into smaller files")])
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col_of_offset(raw, exc.start)
        return _undecodable(raw, file, sha, _finding(
            file, line, col, f"file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8"))
    if "\x00" in text:
        line, col = _line_col_of_offset(raw, raw.index(b"\x00"))
        return _undecodable(raw, file, sha, _finding(
            file, line, col, "file contains a NUL byte", "save the file as UTF-8 text"))
    return parse_text(text, file, record_positions=record_positions, sha256=sha,
                      lazy_positions=lazy_positions)


def load_file(path: Path | str, root: Path, *, record_positions: bool = True,
              max_bytes: int = MAX_FILE_BYTES, lazy_positions: bool = False,
              name: str | None = None, link: bool | None = None) -> FileResult:
    """Load one file; ``name``: its ``relative_name``, and ``link``: whether it is a
    symlink, when the caller knows them."""
    if name is None:
        name = relative_name(path, root)
    try:
        if link is None:
            link = stat.S_ISLNK(os.lstat(path).st_mode)
        if link:
            target = Path(path).resolve()
            try:
                target.relative_to(Path(root).resolve())
            except ValueError:
                return FileResult(name, "", findings=[_finding(
                    name, 1, 1, f"symlink points outside the repository ({target})",
                    "copy the file into the repository instead of linking it")])
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))  # no file object
        try:
            size = os.fstat(fd).st_size
            if size > max_bytes:
                return FileResult(name, "", findings=[_finding(
                    name, 1, 1, f"file is {size} bytes, over the limit of {max_bytes}",
                    "split it into smaller files")])
            raw = read_to_end(fd, size, max_bytes)
        finally:
            os.close(fd)
    except OSError as exc:
        return FileResult(name, "", findings=[_finding(
            name, 1, 1, f"cannot read file: {exc.strerror or exc}", "check its permissions")])
    return load_bytes(raw, name, record_positions=record_positions, max_bytes=max_bytes,
                      lazy_positions=lazy_positions)


def read_to_end(fd: int, size: int, max_bytes: int) -> bytes:
    """A file's bytes: one read of its size (not of ``max_bytes``: that allocates 1 MiB a
    file), then more only if it grew meanwhile, up to one byte over ``max_bytes``
    (``load_bytes`` refuses it then)."""
    raw = os.read(fd, size + 1)
    if len(raw) <= size:
        return raw
    chunks = [raw]
    total = len(raw)
    while total <= max_bytes:
        more = os.read(fd, max_bytes + 1 - total)
        if not more:
            break
        chunks.append(more)
        total += len(more)
    return b"".join(chunks)


def iter_documents(results: Iterable[FileResult]) -> Iterator[Document]:
    for result in results:
        yield from result.documents
