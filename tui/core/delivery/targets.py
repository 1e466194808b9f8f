"""What a delivery target is, and how one is written on the command line and in the form.

maildir:~/Mail/inbox          a Maildir (created if missing)
mbox:/var/mail/alice          an mbox file, locked as mutt and procmail lock it
mda:'procmail -d alice'       a command given the message on stdin (split like a shell
                              would, but run without one: write `sh -c '…'` for a shell)
lmtp:/run/dovecot/lmtp        an LMTP server on a unix socket, or lmtp:HOST:PORT;
lmtp:alice@/run/dovecot/lmtp  RCPT TO alice (default: the mailbox's email address)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from tui.core.delivery.errors import TargetInvalid
from tui.core.settings import LabelledEnum
from tui.core.text import one_line


class TargetKind(LabelledEnum):
    MAILDIR = "maildir", "Maildir"
    MBOX = "mbox", "mbox"
    MDA = "mda", "MDA"
    LMTP = "lmtp", "LMTP"


MAX_ADDRESS = 4096
"""A path or command line longer than this is a mistake (PATH_MAX)."""


@dataclass(frozen=True)
class DeliveryTarget:
    """One place a mailbox's new mail is also delivered to.

    `address` is a path (maildir, mbox; `~` allowed), a command line (mda) or a unix socket
    path / `HOST:PORT` (lmtp). `recipient` is LMTP's RCPT TO ("" = the mailbox's address).
    `id` is set once stored (`add_target`, `list_targets`); `last_error` says why the last
    delivery to it failed ("" when it worked).
    """

    kind: TargetKind
    address: str
    recipient: str = ""
    id: int | None = None
    last_error: str = ""

    @property
    def spec(self) -> str:
        """The target as `parse_target` reads it back (`maildir:PATH`, …)."""
        rcpt = f"{self.recipient}@" if self.recipient else ""
        return f"{self.kind.value}:{rcpt}{self.address}"

    def describe(self) -> str:
        """For people: "Maildir ~/Mail", "MDA procmail -d alice", control characters removed."""
        rcpt = f" for {self.recipient}" if self.recipient else ""
        return one_line(f"{self.kind.label} {self.address}{rcpt}")

    def same_place(self, other: DeliveryTarget) -> bool:
        return (self.kind, self.address, self.recipient) == (
            other.kind,
            other.address,
            other.recipient,
        )


def parse_target(spec: str) -> DeliveryTarget:
    """`maildir:PATH | mbox:PATH | mda:'CMD' | lmtp:[RCPT@]SOCKET-or-HOST:PORT` as a target."""
    kind_text, sep, rest = spec.strip().partition(":")
    try:
        kind = TargetKind(kind_text.strip().lower())
    except ValueError:
        raise TargetInvalid(
            f"{one_line(spec, 80)!r} is not a delivery target: it must start with "
            "maildir:, mbox:, mda: or lmtp:"
        ) from None
    rest = rest.strip()
    if not sep or not rest:
        raise TargetInvalid(f"The {kind.label} target needs a {_what(kind)} after {kind.value}:")
    if len(rest) > MAX_ADDRESS or any(ord(c) < 32 or ord(c) == 127 for c in rest):
        raise TargetInvalid(
            f"The {kind.label} target {one_line(rest, 80)!r} is too long or holds control "
            "characters"
        )
    recipient = ""
    if kind is TargetKind.MDA:
        _check_command(rest)
    elif kind is TargetKind.LMTP:
        if "@" in rest:
            recipient, _, rest = rest.rpartition("@")
            if not recipient or not rest or any(c.isspace() for c in recipient):
                raise TargetInvalid(f"lmtp:{one_line(spec, 80)}: RCPT@ADDRESS needs both parts")
        if not rest.startswith("/"):
            _check_host_port(rest)
    return DeliveryTarget(kind, rest, recipient)


def _what(kind: TargetKind) -> str:
    return {
        TargetKind.MAILDIR: "folder",
        TargetKind.MBOX: "file",
        TargetKind.MDA: "command",
        TargetKind.LMTP: "socket path or HOST:PORT",
    }[kind]


def _check_command(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise TargetInvalid(f"The MDA command {one_line(command, 80)!r}: {error}") from None
    if not words:
        raise TargetInvalid("The MDA target needs a command")
    return words


def command_words(target: DeliveryTarget) -> list[str]:
    """The MDA's argv: split as a shell would, never run by one unless written `sh -c …`."""
    return _check_command(target.address)


def _check_host_port(address: str) -> tuple[str, int]:
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TargetInvalid(
            f"The LMTP target {one_line(address, 80)!r} must be a socket path "
            "(starting with /) or HOST:PORT"
        )
    return host, int(port_text)


def host_port(target: DeliveryTarget) -> tuple[str, int]:
    """An LMTP target's host and port (its address is not a socket path)."""
    return _check_host_port(target.address)
