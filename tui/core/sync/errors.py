"""The errors a fetch or a connection check ends with when the server is not to blame.

Server and network trouble arrives as `tui.core.net.pop3` errors; these say what poptui itself
refused or could not do. Each is a `PoptuiError`: `message` for the user, `hint` what to do.
"""

from __future__ import annotations

from tui.core.errors import PoptuiError

TYPE_CHECKING = False  # no `typing` import for `poptui fetch` with nothing new
if TYPE_CHECKING:
    from typing import Any


class FetchError(PoptuiError):
    """A fetch (or connection check) that could not run or did not finish, worded for the user."""

    kind = "error"
    """Stored in the fetch log's `error_kind`."""

    def __init_subclass__(cls, *, kind: str = "", **rest: Any) -> None:
        """`class X(FetchError, kind="y")` sets the kind in the class line."""
        super().__init_subclass__(**rest)
        if kind:
            cls.kind = kind


class AccountDisabled(FetchError, kind="disabled"):
    """Auto-disabled after too many failures in a row; not fetched until fixed."""


class MissingPassword(FetchError, kind="missing_password"):
    """No incoming password in the secret store."""

    @classmethod
    def for_account(cls, name: str) -> MissingPassword:
        return cls(
            f"No incoming password is stored for {name}: set it with "
            f"`poptui password set {name!r} --incoming` or in the password editor"
        )


class UidlRequired(FetchError, kind="uidl_unsupported"):
    """The server has no UIDL and the delete setting needs it; nothing was fetched."""


class FetchCancelled(FetchError, kind="cancelled"):
    """Stopped on request (quitting the app); what was stored stays, nothing was deleted."""


class InvalidServerSettings(FetchError, kind="settings"):
    """The server settings cannot be used as they are (a port out of range, a bad fingerprint)."""


class Abandoned(FetchError, kind="abandoned"):
    """A stopped job did not finish within the grace period and was left to die with the app."""
