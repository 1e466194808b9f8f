"""Stored mail made readable: header summaries at fetch time, bodies and attachments on reading.

The names below are imported on first use, not with the package: `poptui fetch` with nothing
new must not pay for the email package (see `tui.core.sync.engine`).
"""

from __future__ import annotations

from tui.core.lazy import lazy_exports

TYPE_CHECKING = False  # no `typing` import: the summary process starts with this package
if TYPE_CHECKING:
    from tui.core.mail.attachments import AttachmentInfo, SaveError, save_attachment
    from tui.core.mail.parse import summarize
    from tui.core.mail.render import RenderedMessage, extract_body_text, render_message
    from tui.core.mail.summary import MessageSummary

__all__ = [
    "AttachmentInfo",
    "MessageSummary",
    "RenderedMessage",
    "SaveError",
    "extract_body_text",
    "render_message",
    "save_attachment",
    "summarize",
]

_HOME = {
    "AttachmentInfo": "attachments",
    "SaveError": "attachments",
    "save_attachment": "attachments",
    "MessageSummary": "summary",
    "summarize": "parse",
    "RenderedMessage": "render",
    "extract_body_text": "render",
    "render_message": "render",
}

__getattr__ = lazy_exports(__name__, _HOME)
