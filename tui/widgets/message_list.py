"""The message list: a virtual, line-API list over a mailbox of any size, newest first.

Why not a DataTable: a DataTable holds every row it shows (100,000 rows take ~20 s to add),
and a DataTable refilled page by page cannot prepend rows or drop rows from its top without
resetting its scroll offset, so paging up would jump. This widget (a `ScrollView` with
`render_line`, like toolong's log view) has a virtual height of the whole mailbox, so the
scrollbar and "end" mean the real end; it draws only the visible lines, asking a row source
(`tui.widgets.message_rows`) for them, which holds a few pages whatever the mailbox size.

Rows are mail headers, untrusted: every cell goes through `clean` into a rich `Text`, never
markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.storage.queries import MessageRow
from tui.core.text import clean, human_bytes
from tui.widgets.message_rows import EmptyRows, RowSource

ATTACHMENT_MARK = "+"


# ------------------------------------------------------------------------------ formatting


def format_when(when: datetime | None) -> str:
    """A stored (naive UTC) time in local time, "2025-03-14 09:30"."""
    if when is None:
        return ""
    try:
        return when.replace(tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return when.strftime("%Y-%m-%d %H:%M")


def display_sender(from_addr: str) -> str:
    """The sender's name when the address has one ("Ana Lima <ana@…>" → "Ana Lima")."""
    text = clean(from_addr).strip()
    if text.endswith(">") and " <" in text:
        name = text.rsplit(" <", 1)[0].strip().strip('"').strip()
        if name:
            return name
    return text


@dataclass(frozen=True)
class ColumnLayout:
    sender: int
    subject: int
    date: int
    size: int

    @classmethod
    def for_width(cls, width: int) -> ColumnLayout:
        # " + " mark, then sender, subject, date, size separated by two spaces.
        date, size = (16, 7) if width >= 70 else (10, 0)
        sender = max(8, min(28, width * 3 // 10))
        fixed = 3 + sender + 2 + 2 + date + (2 + size if size else 0) + 1
        subject = max(4, width - fixed)
        return cls(sender, subject, date, size)


def _cell(text: str, width: int, style: Style | str = "", *, right: bool = False) -> Text:
    cell = Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")
    if right and cell.cell_len < width:
        cell = Text(" " * (width - cell.cell_len), end="") + cell
    cell.truncate(width, overflow="ellipsis", pad=True)
    return cell


# ------------------------------------------------------------------------------ the widget


def _key(
    keys: str, action: str, description: str, id: str, tooltip: str, *, show: bool = True
) -> Binding:
    """One of the list's keys; their ids share the `message-list-` prefix (`set_keymap`)."""
    return Binding(keys, action, description, show=show, id=f"message-list-{id}", tooltip=tooltip)


class MessageList(ScrollView, can_focus=True):
    """A cursor over the rows of a `RowSource`; the first line is the column header."""

    BINDINGS: ClassVar[list[BindingType]] = [
        _key("up,k", "cursor_up", "Up", "up", "Highlight the newer message", show=False),
        _key("down,j", "cursor_down", "Down", "down", "Highlight the older message", show=False),
        _key("pageup,b", "page_up", "Page up", "page-up", "One screen up (also b)", show=False),
        _key(
            "pagedown,space", "page_down", "Page down", "page-down", "One screen down (also space)",
            show=False,
        ),
        _key("home,g", "first", "Newest", "first", "Jump to the newest message (also g)"),
        _key("end,G", "last", "Oldest", "last", "Jump to the oldest message (also G)"),
        _key("enter", "open", "Read", "open", "Read the highlighted message"),
    ]  # fmt: skip

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-list--header",
        "message-list--cursor",
        "message-list--dim",
        "message-list--attachment",
    }

    DEFAULT_CSS = """
    MessageList {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: scroll;
        background: $surface;
        & > .message-list--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .message-list--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .message-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .message-list--dim {
            color: $text-muted;
        }
        & > .message-list--attachment {
            color: $accent;
            text-style: bold;
        }
    }
    """

    cursor: reactive[int] = reactive(0, repaint=False, init=False)
    """Position of the highlighted message in the whole list (0 = newest)."""

    @dataclass
    class _Event(Message):
        message_list: MessageList

        @property
        def control(self) -> MessageList:
            return self.message_list

    @dataclass
    class Highlighted(_Event):
        """The cursor moved (or the rows changed under it)."""

        row: MessageRow | None
        position: int
        total: int

    @dataclass
    class Selected(_Event):
        """Enter (or a double click) on a message."""

        row: MessageRow

    def __init__(
        self,
        source: RowSource | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.source: RowSource = source or EmptyRows("")
        self._load_failed = False

    # -------------------------------------------------------------- data

    @property
    def total(self) -> int:
        return self.source.total

    @property
    def held_rows(self) -> int:
        """Rows in memory (bounded by pages, not by the mailbox size)."""
        return self.source.held

    @property
    def highlighted_row(self) -> MessageRow | None:
        return self._row(self.cursor)

    def _row(self, index: int) -> MessageRow | None:
        try:
            return self.source.get(index)
        except Exception as error:  # a database error must not take the screen down
            if not self._load_failed:
                self._load_failed = True
                self.notify(
                    f"Could not read messages: {clean(str(error))}",
                    severity="error",
                    markup=False,
                )
            return None

    def show(self, source: RowSource, *, cursor: int = 0) -> None:
        """Show another list (a mailbox, search results), the cursor at `cursor`."""
        self.source = source
        self._load_failed = False
        self._resize_virtual()
        self.set_reactive(MessageList.cursor, self._clamp(cursor))
        self.scroll_to(y=0, animate=False)
        self._reveal_cursor()
        self.refresh()
        self._announce()

    def reload(self) -> None:
        """Read the source again, keeping the cursor at the same position."""
        self._load_failed = False
        self.source.reload()
        self._resize_virtual()
        self.set_reactive(MessageList.cursor, self._clamp(self.cursor))
        self._reveal_cursor()
        self.refresh()
        self._announce()

    def _clamp(self, index: int) -> int:
        return max(0, min(index, self.total - 1))

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self.total + 1)

    def _announce(self) -> None:
        self.post_message(self.Highlighted(self, self.highlighted_row, self.cursor, self.total))

    # -------------------------------------------------------------- cursor

    def validate_cursor(self, value: int) -> int:
        return self._clamp(value)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        self._reveal_cursor()
        self._announce()

    @property
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _reveal_cursor(self) -> None:
        top = round(self.scroll_y)
        visible = self._visible_rows
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        step = self._visible_rows
        self.scroll_to(y=self.scroll_y - step, animate=False)
        self.cursor -= step

    def action_page_down(self) -> None:
        step = self._visible_rows
        self.scroll_to(y=self.scroll_y + step, animate=False)
        self.cursor += step

    def action_first(self) -> None:
        self.cursor = 0
        self.scroll_to(y=0, animate=False)

    def action_last(self) -> None:
        self.cursor = self.total - 1
        self.scroll_to(y=self.max_scroll_y, animate=False)

    def action_open(self) -> None:
        row = self.highlighted_row
        if row is not None:
            self.post_message(self.Selected(self, row))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = round(self.scroll_y) + offset.y - 1
        if index < self.total:
            self.cursor = index
            if event.chain >= 2:
                self.action_open()

    def on_resize(self, _: events.Resize) -> None:
        self._resize_virtual()
        self._reveal_cursor()

    # -------------------------------------------------------------- drawing

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        segments: list[Segment] = list(text.render(self.app.console))
        return Strip(segments, text.cell_len).adjust_cell_length(width, style)

    def _header_line(self, layout: ColumnLayout, width: int, style: Style) -> Strip:
        header = Text(" " * 3, end="")
        header.append_text(_cell("From", layout.sender))
        header.append("  ")
        header.append_text(_cell("Subject", layout.subject))
        header.append("  ")
        header.append_text(_cell("Date", layout.date))
        if layout.size:
            header.append("  ")
            header.append_text(_cell("Size", layout.size, right=True))
        header.stylize(style)
        return self._strip(header, width, style)

    def _row_line(self, row: MessageRow, layout: ColumnLayout, width: int, style: Style) -> Strip:
        dim = self.get_component_rich_style("message-list--dim", partial=True)
        mark = self.get_component_rich_style("message-list--attachment", partial=True)
        line = Text(" ", end="")
        line.append(ATTACHMENT_MARK if row.has_attachments else " ", style=mark)
        line.append(" ")
        line.append_text(_cell(display_sender(row.from_addr), layout.sender))
        line.append("  ")
        subject = clean(row.subject).strip()
        line.append_text(_cell(subject or "(no subject)", layout.subject, "" if subject else dim))
        line.append("  ")
        when = format_when(row.when)[: layout.date]
        line.append_text(_cell(when, layout.date, dim))
        if layout.size:
            line.append("  ")
            line.append_text(_cell(human_bytes(row.size, short=True), layout.size, dim, right=True))
        line.stylize(style)
        return self._strip(line, width, style)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        layout = ColumnLayout.for_width(width)
        if y == 0:
            header = base + self.get_component_rich_style("message-list--header", partial=True)
            return self._header_line(layout, width, header)
        index = round(self.scroll_y) + y - 1
        if self.total == 0:
            if y == 1:
                dim = base + self.get_component_rich_style("message-list--dim", partial=True)
                return self._strip(Text(f"   {self.source.empty_text}", end=""), width, dim)
            return Strip.blank(width, base)
        row = self._row(index) if index < self.total else None
        if row is None:
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("message-list--cursor", partial=True)
        return self._row_line(row, layout, width, style)
