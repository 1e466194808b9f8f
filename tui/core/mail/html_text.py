"""HTML mail turned into the text a person would read, with the stdlib parser only.

Nothing a body refers to is ever loaded: links are shown as "text [https://…]" (script-like and
inline ones dropped), images as their alt text, scripts and styles not at all. The result is not
sanitised here: `render` passes it through `tui.core.text.clean` like every other body.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_HTML_CHARS = 2_000_000
"""HTML beyond this is not converted: html.parser is pure Python and would stall the reader."""
MAX_LINK_CHARS = 2_000

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
            self._break(blank=self._leaves_blank_line(tag))
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
            self._break(blank=self._leaves_blank_line(tag))

    def _leaves_blank_line(self, tag: str) -> bool:
        """Paragraph-like blocks stand apart, but a list inside a list item stays tight."""
        return tag in _PARAGRAPHS and not (tag in ("ul", "ol") and self._lists)

    def _close_link(self, href: str, text: str) -> None:
        href = _WHITESPACE.sub("", href)[:MAX_LINK_CHARS]
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
