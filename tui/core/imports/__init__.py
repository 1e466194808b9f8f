"""Taking over a fetchmail, getmail6, mpop or Thunderbird setup: accounts, passwords and the
UIDLs those programs already fetched (so poptui never fetches that mail again).

One module per peer reads its files into an `ImportPlan` (nothing changes); `apply_plan` creates
it, or with `dry_run` only says what it would create; `wording` puts either into lines for the
CLI and the Import screen. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.lazy import homes_of, lazy_exports

if TYPE_CHECKING:
    from tui.core.imports.apply import ImportOutcome, apply_plan
    from tui.core.imports.discover import default_path, found_setups, plan_import
    from tui.core.imports.found import (
        ConfigSyntaxError,
        FoundAccount,
        ImportFailed,
        ImportPlan,
        Peer,
    )
    from tui.core.imports.wording import outcome_lines

__all__ = [
    "ConfigSyntaxError",
    "FoundAccount",
    "ImportFailed",
    "ImportOutcome",
    "ImportPlan",
    "Peer",
    "apply_plan",
    "default_path",
    "found_setups",
    "outcome_lines",
    "plan_import",
]

__getattr__ = lazy_exports(
    __name__,
    homes_of(
        {
            "apply": ("ImportOutcome", "apply_plan"),
            "discover": ("default_path", "found_setups", "plan_import"),
            "found": ("ConfigSyntaxError", "FoundAccount", "ImportFailed", "ImportPlan", "Peer"),
            "wording": ("outcome_lines",),
        }
    ),
)
