"""What an import found: one peer's accounts, mapped onto poptui's settings, with what could not
be mapped, where a clear-text password was, and the UIDLs the peer already fetched.

Plain data, filled by one parser per peer (`fetchmail`, `getmail`, `mpop`, `thunderbird`) and
written by `tui.core.imports.apply`; the CLI and the Import screen word it with `wording`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tui.core.errors import PoptuiError
from tui.core.settings import AccountSettings, DeletePolicy


class Peer(StrEnum):
    """The programs whose setups poptui takes over."""

    FETCHMAIL = "fetchmail"
    GETMAIL = "getmail"
    MPOP = "mpop"
    THUNDERBIRD = "thunderbird"


class ImportFailed(PoptuiError):
    """A setup that cannot be imported as it is; nothing was changed."""


SYNTAX_HINT = "Fix the file (the program itself would refuse it too), then import again."


class ConfigSyntaxError(ImportFailed):
    """A file the peer itself would refuse: said with its file and line."""

    def __init__(self, path: str, line: int, what: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"{path}:{line}: {what}",
            hint=SYNTAX_HINT if hint is None else hint,
        )
        self.path = path
        self.line = line


@dataclass
class FoundAccount:
    """One POP3 account of a peer's setup, as poptui would create it."""

    peer: Peer
    where: str
    """The file and line that define it, e.g. "/home/me/.fetchmailrc:3"."""
    settings: AccountSettings
    password: str | None = field(default=None, repr=False)
    password_file: str = ""
    """The file that held `password` in clear text ("" when none was found)."""
    uidls: list[str] = field(default_factory=list)
    """UIDLs the peer already fetched (and saw still on the server): never fetched again."""
    state_file: str = ""
    """Where `uidls` were read from ("" when no state file was found)."""
    deliveries: list[str] = field(default_factory=list)
    """Delivery targets (`tui.core.delivery` specs, e.g. `maildir:~/Mail`) to add."""
    mapped: list[str] = field(default_factory=list)
    """How a peer setting became a poptui setting, when that is worth saying."""
    unmapped: list[str] = field(default_factory=list)
    """Peer settings poptui has no place for, each with what it meant."""
    warnings: list[str] = field(default_factory=list)
    """What the user must know: deletion on the server, clear text, unverified certificates."""
    peer_kept: bool = True
    """The peer left fetched mail on the server (fetchmail `keep`, getmail without `delete`)."""
    not_imported: str = ""
    """Why this account is left out (IMAP, no user name, a `skip` entry); "" to import it."""

    @property
    def key(self) -> tuple[str, str]:
        """What makes an import idempotent: the same server and user are one account."""
        return self.settings.incoming_host.strip().lower(), self.settings.username.strip()

    def deletion_words(self) -> None:
        """Say, as a warning, whenever the policy deletes mail on the server, and that mail the
        peer already took stays there (poptui has no copy of it, so it never deletes it)."""
        policy = self.settings.delete_policy
        if policy is DeletePolicy.AFTER_FETCH:
            self.warnings.append(
                f"poptui will DELETE messages on the server once it has stored them, as "
                f"{self.peer.value} did; change the mailbox's delete setting to keep them"
            )
        elif policy is DeletePolicy.AFTER_DAYS:
            self.warnings.append(
                f"poptui will DELETE messages on the server {self.settings.delete_after_days} "
                f"days after fetching them, as {self.peer.value} did"
            )
        elif policy is DeletePolicy.WHEN_DELETED_HERE:
            self.warnings.append(
                "poptui will delete a message on the server when you delete it in poptui, "
                f"as {self.peer.value} did"
            )
        if self.uidls and (self.peer_kept or policy is not DeletePolicy.LEAVE):
            self.mapped.append(
                f"{len(self.uidls)} messages {self.peer.value} already fetched stay on the "
                "server: poptui never fetches them and, holding no copy, never deletes them"
            )


@dataclass
class ImportPlan:
    """Everything one import would do, found without changing anything."""

    peer: Peer
    files: list[str] = field(default_factory=list)
    """Every file read, setup and state."""
    accounts: list[FoundAccount] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """About the files themselves: a password file others can read, a state file not found."""

    @property
    def importable(self) -> list[FoundAccount]:
        return [a for a in self.accounts if not a.not_imported]
