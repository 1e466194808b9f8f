"""Delivery: handing a mailbox's new mail on to a Maildir, an mbox, an MDA command or LMTP,
and exporting stored mail to a Maildir or mbox.

Public face (loaded on first use, so `poptui fetch` without targets stays light):

- `DeliveryTarget(kind, address, recipient="")`, `TargetKind` (maildir | mbox | mda | lmtp),
  `parse_target("maildir:~/Mail")` (raises `TargetInvalid`), `target.spec` (the same text back).
- `add_target(account, target_or_spec)` (idempotent), `list_targets(account)`,
  `remove_target(account, target_or_spec)`, `set_targets(account, targets)`.
  `account` is the `tui.core.storage.models.Account` row. A new target receives the mail
  stored after it was added, never the older mail.
- `DeliveryError` (a worded failure for one target), `TargetInvalid` (a spec that is no target).
- `export_mail(view, ExportFormat.MAILDIR | MBOX, path, since=, search=, progress=)`: stored
  mail out to a Maildir or an mbox file, streaming; `ExportError` when it cannot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.lazy import homes_of, lazy_exports

if TYPE_CHECKING:
    from tui.core.delivery.errors import DeliveryError, TargetInvalid
    from tui.core.delivery.export import ExportError, ExportFormat, ExportResult, export_mail
    from tui.core.delivery.store import add_target, list_targets, remove_target, set_targets
    from tui.core.delivery.targets import DeliveryTarget, TargetKind, parse_target

__all__ = [
    "DeliveryError",
    "DeliveryTarget",
    "ExportError",
    "ExportFormat",
    "ExportResult",
    "TargetInvalid",
    "TargetKind",
    "add_target",
    "export_mail",
    "list_targets",
    "parse_target",
    "remove_target",
    "set_targets",
]

_HOMES = {
    "errors": ("DeliveryError", "TargetInvalid"),
    "export": ("ExportError", "ExportFormat", "ExportResult", "export_mail"),
    "store": ("add_target", "list_targets", "remove_target", "set_targets"),
    "targets": ("DeliveryTarget", "TargetKind", "parse_target"),
}

__getattr__ = lazy_exports(__name__, homes_of(_HOMES))
