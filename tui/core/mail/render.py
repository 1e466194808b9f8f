"""A stored message made readable: sanitized headers, a text body and its attachments.

Everything here treats the message as hostile. Header and body text lose terminal escape
sequences, control, C1 and bidi characters; HTML becomes plain text through the stdlib parser
(nothing is ever fetched: links are shown as "text [https://…]", scripts and styles dropped);
attachment names are reduced to a bare, visible file name that is never trusted for saving.
Malformed MIME never raises out of `render_message`: the raw text is shown instead.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import mimetypes
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from html.parser import HTMLParser
from pathlib import Path

from tui.core.mail.parse import decode_header_value, summarize

MAX_BODY_CHARS = 500_000
"""Longer bodies are cut for display (the raw source stays whole)."""
MAX_HTML_CHARS = 2_000_000
"""HTML beyond this is not converted: html.parser is pure Python and would stall the reader."""
MAX_HEADER_CHARS = 2_000
MAX_DEPTH = 40
"""MIME nesting deeper than this is not followed (a crafted message could nest thousands)."""
MAX_FILENAME_BYTES = 200
MAX_SAVE_ATTEMPTS = 1000
WRITE_CHUNK = 1 << 20

HEADER_NAMES = ("From", "To", "Cc", "Date", "Subject")

# ------------------------------------------------------------------------------ sanitizing

# Whole escape sequences go first, so "\x1b[31m" disappears instead of leaving "[31m" behind.
# CSI; OSC/DCS/SOS/PM/APC up to their terminator (or the end of the line: an unterminated
# string swallows no more than its line); then two-character escapes such as ESC c.
_ESCAPE_SEQUENCES = re.compile(
    r"""
      (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c\n]* (?:\x07|\x1b\\|\x9c)?
    | \x1b [\x20-\x2f]* [\x30-\x7e]?
    """,
    re.VERBOSE,
)
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
"""C0 (\\t and \\n are let through by the callers), DEL, C1, bidi marks/overrides/isolates, and
lone surrogates (which cannot even be written to the terminal)."""
_UNSAFE_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def clean_text(text: str, *, multiline: bool = False) -> str:
    """`text` without escape sequences, control, C1 and bidi characters.

    Single-line (the default) turns line breaks and tabs into spaces, for header values and
    file names; `multiline` keeps "\\n" and "\\t", for bodies.
    """
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = _LINE_BREAKS.sub("\n", text)
    if multiline:
        return _UNSAFE_MULTILINE.sub("", text)
    text = text.replace("\n", " ").replace("\t", " ")
    return _UNSAFE.sub("", text)


def _unsurrogate(text: str) -> str:
    """Undo the surrogateescape the email package uses for raw 8-bit header bytes."""
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A bare, visible file name: no directories, no control or bidi characters, no leading dot.

    "../../etc/passwd" becomes "passwd", "evil\\u202etxt.exe" becomes "eviltxt.exe" (what the
    name really is, not what it pretends to be). Never empty; at most 200 bytes of UTF-8.
    """
    cleaned = clean_text(_unsurrogate(name))
    cleaned = cleaned.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = cleaned.strip().lstrip(".").strip().rstrip(".").strip()
    if not cleaned:
        cleaned = fallback
    if len(cleaned.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return cleaned
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix) > 16 or not stem:
        stem, suffix = cleaned, ""
    budget = MAX_FILENAME_BYTES - len(suffix.encode("utf-8")) - (1 if suffix else 0)
    short = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip()
    return f"{short}.{suffix}" if suffix else short


# ------------------------------------------------------------------------------ HTML → text

_WHITESPACE = re.compile(r"\s+")
_SKIPPED = frozenset({"script", "style", "title", "template"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
_PARAGRAPHS = frozenset(
    {"blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "p", "pre", "table", "ul"}
)
_UNSHOWN_LINKS = ("javascript:", "vbscript:", "data:", "cid:", "#")


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML body; never loads anything it refers to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._last = "\n"
        self._tail = ""
        self._skip = 0
        self._pre = 0
        self._links: list[tuple[str, int]] = []
        self._lists: list[int | None] = []

    def _emit(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self._tail = (self._tail + text)[-2:]
            self._last = text[-1]

    def _break(self, *, blank: bool = False) -> None:
        """End the current line; `blank` also leaves an empty line (paragraphs, headings)."""
        if not self._parts:
            return
        if self._last != "\n":
            self._emit("\n")
        if blank and self._tail != "\n\n":
            self._emit("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
            return
        if self._skip:
            return
        attributes = {name: value or "" for name, value in attrs}
        if tag == "br":
            self._emit("\n")
        elif tag == "hr":
            self._break()
            self._emit("─" * 20 + "\n")
        elif tag in _BLOCKS:
            self._break(blank=tag in _PARAGRAPHS)
        if tag == "pre":
            self._pre += 1
        elif tag in ("ul", "ol"):
            self._lists.append(0 if tag == "ol" else None)
        elif tag == "li":
            indent = "  " * max(0, len(self._lists) - 1)
            counter = self._lists[-1] if self._lists else None
            if counter is None:
                self._emit(f"{indent}• ")
            else:
                self._lists[-1] = counter + 1
                self._emit(f"{indent}{counter + 1}. ")
        elif tag in ("td", "th") and self._last not in ("\n", " "):
            self._emit("  ")
        elif tag == "a":
            self._links.append((attributes.get("href", "").strip(), len(self._parts)))
        elif tag == "img":
            alt = _WHITESPACE.sub(" ", attributes.get("alt", "")).strip()
            if alt:
                self._emit(f"[image: {alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            self._close_link(href, "".join(self._parts[start:]).strip())
        if tag in _BLOCKS:
            self._break(blank=tag in _PARAGRAPHS)

    def _close_link(self, href: str, text: str) -> None:
        href = _WHITESPACE.sub("", href)[:MAX_HEADER_CHARS]
        if not href or href.lower().startswith(_UNSHOWN_LINKS):
            return
        if text in (href, href.removeprefix("mailto:")):
            return
        self._emit(f" [{href}]" if text else f"[{href}]")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            self._emit(data)
            return
        text = _WHITESPACE.sub(" ", data)
        if self._last in ("\n", " "):
            text = text.lstrip(" ")
        self._emit(text)

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self._parts).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def html_to_text(html: str) -> str:
    """The readable text of an HTML body, links as "text [url]"; never raises."""
    parser = _HtmlText()
    try:
        parser.feed(html[:MAX_HTML_CHARS])
        parser.close()
    except Exception:  # html.parser is lenient, but a crafted body must not stop the reader
        pass
    text = parser.text()
    if len(html) > MAX_HTML_CHARS:
        text += "\n\n[The rest of this HTML message is too long to convert.]"
    return text


# ------------------------------------------------------------------------------ MIME


@dataclass(frozen=True)
class AttachmentInfo:
    index: int
    """Position among the message's attachments, as `save_attachment` takes it (0-based)."""
    filename: str
    """Sanitized by `safe_filename`: safe to show and as a default name, never trusted."""
    content_type: str
    size: int
    """Decoded size in bytes."""


@dataclass(frozen=True)
class HeaderLine:
    name: str
    value: str
    """Decoded (RFC 2047) and sanitized to one line."""


@dataclass(frozen=True)
class RenderedMessage:
    headers: tuple[HeaderLine, ...]
    body: str
    """Sanitized text: only "\\n" and "\\t" remain of the control characters."""
    body_type: str
    """"text/plain", "text/html" (converted), "raw" (fallback) or "" (no text body)."""
    attachments: tuple[AttachmentInfo, ...] = ()
    problem: str = ""
    """Set when the message could not be decoded as MIME and raw text is shown instead."""
    truncated: bool = False
    defects: tuple[str, ...] = field(default=())

    def header(self, name: str) -> str:
        for line in self.headers:
            if line.name.lower() == name.lower():
                return line.value
        return ""


@dataclass
class _Leaf:
    part: EmailMessage
    content_type: str
    filename: str
    is_attachment: bool
    nested_message: bool = False


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=compat32).parsebytes(raw)


_FOLDING = re.compile(r"\r?\n(?=[ \t])")


def _raw_headers(part: EmailMessage, name: str) -> list[str]:
    """Header values as sent, raw 8-bit bytes read as UTF-8 (or cp1252), unfolded.

    `Message.get` would turn raw 8-bit bytes into U+FFFD before we could decode them.
    """
    wanted = name.lower()
    return [
        _FOLDING.sub("", _unsurrogate(str(value)))
        for key, value in part.raw_items()
        if key.lower() == wanted
    ]


def _filename(part: EmailMessage) -> str:
    try:
        # Re-read the two headers that can carry a name from their raw text, so a raw UTF-8
        # name is decoded rather than replaced; the stdlib then does RFC 2231 as usual.
        probe = EmailMessage()
        for header in ("Content-Disposition", "Content-Type"):
            values = _raw_headers(part, header)
            if values:
                probe[header] = values[0]
        name = probe.get_filename()
    except Exception:
        return ""
    if not name:
        return ""
    return decode_header_value(_unsurrogate(str(name)))


def _leaves(part: EmailMessage, depth: int = 0) -> Iterator[_Leaf]:
    content_type = part.get_content_type()
    if depth > MAX_DEPTH:
        return
    if content_type == "message/rfc822" and depth > 0:
        yield _Leaf(part, content_type, _filename(part), True, nested_message=True)
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, EmailMessage):
                    yield from _leaves(sub, depth + 1)
        return
    filename = _filename(part)
    disposition = part.get_content_disposition()
    if content_type.startswith("multipart/"):
        # A multipart without a usable boundary: its payload is just text; show it as such.
        yield _Leaf(part, "text/plain", "", False)
        return
    if disposition == "attachment":
        is_attachment = True
    elif content_type in ("text/plain", "text/html"):
        is_attachment = bool(filename) and disposition != "inline"
    else:
        is_attachment = True
    yield _Leaf(part, content_type, filename, is_attachment)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; an unknown or lying charset falls back to UTF-8/cp1252."""
    name = ""
    if charset:
        try:
            name = codecs.lookup(charset).name
        except (LookupError, ValueError):
            name = ""
    if name and name != "ascii":
        try:
            return data.decode(name, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _payload_bytes(leaf: _Leaf) -> bytes:
    part = leaf.part
    if leaf.nested_message:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
            try:
                return inner[0].as_bytes()
            except Exception:
                return str(inner[0]).encode("utf-8", "surrogateescape")
        return b""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _leaf_text(leaf: _Leaf) -> str:
    try:
        charset = leaf.part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(_payload_bytes(leaf), charset)


def _attachment_name(leaf: _Leaf, index: int) -> str:
    if leaf.nested_message:
        fallback = f"message-{index + 1}.eml"
    else:
        extension = mimetypes.guess_extension(leaf.content_type) or ".bin"
        fallback = f"attachment-{index + 1}{extension}"
    return safe_filename(leaf.filename, fallback) if leaf.filename else fallback


def _body_of(leaves: list[_Leaf]) -> tuple[str, str]:
    texts = [leaf for leaf in leaves if not leaf.is_attachment]
    plain = [leaf for leaf in texts if leaf.content_type == "text/plain"]
    if plain:
        return "\n\n".join(_leaf_text(leaf) for leaf in plain), "text/plain"
    html = [leaf for leaf in texts if leaf.content_type == "text/html"]
    if html:
        return "\n\n".join(html_to_text(_leaf_text(leaf)) for leaf in html), "text/html"
    return "", ""


def _header_lines(message: EmailMessage) -> tuple[HeaderLine, ...]:
    lines = []
    for name in HEADER_NAMES:
        values = _raw_headers(message, name)
        if not values and name in ("To", "Cc"):
            continue
        decoded = ", ".join(decode_header_value(value) for value in values)
        lines.append(HeaderLine(name, clean_text(decoded)[:MAX_HEADER_CHARS].strip()))
    return tuple(lines)


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_BODY_CHARS:
        return text, False
    return text[:MAX_BODY_CHARS], True


def _raw_fallback(raw: bytes, problem: str) -> RenderedMessage:
    summary = summarize(raw)
    headers = (
        HeaderLine("From", clean_text(summary.from_addr).strip()),
        HeaderLine("To", clean_text(summary.to_addrs).strip()),
        HeaderLine("Date", f"{summary.date:%Y-%m-%d %H:%M} UTC" if summary.date else ""),
        HeaderLine("Subject", clean_text(summary.subject).strip()),
    )
    body, truncated = _cut(clean_text(decode_bytes(raw, None), multiline=True))
    return RenderedMessage(headers, body, "raw", problem=problem, truncated=truncated)


def render_message(raw: bytes) -> RenderedMessage:
    """Headers, text body and attachment list of a raw message; never raises."""
    try:
        message = _parse(raw)
        leaves = list(_leaves(message))
        body, body_type = _body_of(leaves)
        attachments: list[AttachmentInfo] = []
        for leaf in (leaf for leaf in leaves if leaf.is_attachment):
            index = len(attachments)
            attachments.append(
                AttachmentInfo(
                    index=index,
                    filename=_attachment_name(leaf, index),
                    content_type=clean_text(leaf.content_type),
                    size=len(_payload_bytes(leaf)),
                )
            )
        defects = tuple(type(defect).__name__ for defect in message.defects)
        text, truncated = _cut(clean_text(body, multiline=True))
        return RenderedMessage(
            headers=_header_lines(message),
            body=text,
            body_type=body_type,
            attachments=tuple(attachments),
            truncated=truncated,
            defects=defects,
        )
    except Exception as error:  # malformed MIME must never stop the reader
        return _raw_fallback(
            raw, f"This message could not be decoded ({type(error).__name__}); raw text shown."
        )


def extract_body_text(raw: bytes, limit: int = MAX_BODY_CHARS) -> str:
    """The sanitized text body only (no attachment is decoded), for the search index."""
    try:
        body, _ = _body_of(list(_leaves(_parse(raw))))
    except Exception:
        body = decode_bytes(raw, None)
    return clean_text(body[: limit * 2], multiline=True)[:limit]


# ------------------------------------------------------------------------------ saving


class SaveError(Exception):
    """An attachment could not be saved; the message says why, for the user."""

    def __init__(self, message: str, errno_code: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_code


def _attachment(raw: bytes, index: int) -> tuple[str, bytes]:
    try:
        leaves = [leaf for leaf in _leaves(_parse(raw)) if leaf.is_attachment]
    except Exception as error:
        raise SaveError("The message could not be decoded, so it has no attachments.") from error
    if not 0 <= index < len(leaves):
        raise SaveError(f"The message has no attachment number {index + 1}.")
    leaf = leaves[index]
    return _attachment_name(leaf, index), _payload_bytes(leaf)


def _explain(error: OSError, path: Path, directory: Path, size: int) -> SaveError:
    code = error.errno
    if code == errno.ENOSPC:
        text = (
            f"The disk is full: {path.name} ({size:,} bytes) could not be saved in {directory}. "
            "Free some space or choose another folder; nothing was left behind."
        )
    elif code == errno.EDQUOT:
        text = (
            f"Your disk quota is used up: {path.name} could not be saved in {directory}. "
            "Free some space or choose another folder."
        )
    elif code in (errno.EACCES, errno.EPERM):
        text = f"No permission to write in {directory}. Choose another folder."
    elif code == errno.EROFS:
        text = f"{directory} is on a read-only file system. Choose another folder."
    elif code in (errno.ENOENT, errno.ENOTDIR):
        text = f"The folder {directory} does not exist."
    elif code == errno.ENAMETOOLONG:
        text = f"The file name {path.name!r} is too long for this file system."
    elif code == errno.EFBIG:
        text = f"{path.name} is too large for the file system of {directory}."
    else:
        text = f"Could not save {path.name} in {directory}: {error.strerror or error}."
    return SaveError(clean_text(text), code)


def _numbered(name: str, number: int) -> str:
    if number == 0:
        return name
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and len(suffix) <= 16:
        return f"{stem} ({number}).{suffix}"
    return f"{name} ({number})"


def _create_exclusive(directory: Path, name: str, size: int) -> tuple[Path, int]:
    """Open a new file in `directory` named `name`, or "name (1)", "name (2)" … if taken."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for number in range(MAX_SAVE_ATTEMPTS):
        candidate = directory / _numbered(name, number)
        # The name is bare (safe_filename), so the file is always directly in `directory`.
        if candidate.parent != directory or candidate.name in ("", ".", ".."):
            raise SaveError(f"Refusing to save outside {directory}.")
        try:
            return candidate, os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno == errno.ELOOP:  # a symlink sits on the name: never follow it
                continue
            raise _explain(error, candidate, directory, size) from error
    raise SaveError(f"Too many files named like {name} in {directory}; choose another name.")


def save_attachment(raw: bytes, index: int, target: str | os.PathLike[str]) -> Path:
    """Write attachment `index` of `raw` into a folder (or to a file path) and return the path.

    `target` is a folder (the attachment's sanitized name is used) or a file path in an
    existing folder. An existing file is never replaced: " (1)", " (2)" … are added. A failed
    write (full disk, no permission) removes the partial file and raises `SaveError` with a
    sentence for the user.
    """
    name, data = _attachment(raw, index)
    chosen = Path(os.path.expanduser(os.fspath(target)))
    if chosen.is_dir():
        directory = chosen
    else:
        directory = chosen.parent
        name = safe_filename(chosen.name, name)
        if not directory.is_dir():
            raise SaveError(f"The folder {clean_text(str(directory))} does not exist.")
    directory = directory.resolve()
    path, fd = _create_exclusive(directory, name, len(data))
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view[:WRITE_CHUNK])
            view = view[written:]
        os.fsync(fd)
    except OSError as error:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise _explain(error, path, directory, len(data)) from error
    os.close(fd)
    return path
