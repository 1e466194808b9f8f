"""A POP3 client on raw sockets: TLS/STLS done safely, login (`auth`), pipelined streaming RETR.

STAT, LIST and UIDL (`listings()`) are in `listing_commands`, a mixin of the client.

Written instead of using `poplib` because poplib does not verify certificates unless given a
context, breaks on lines over 2048 bytes, cannot pipeline and has no default timeout. Domain
core: no Textual imports. Not thread-safe: one client belongs to one worker thread.

Safety rules the engine relies on:

* DELE only marks; the server deletes at QUIT. `quit()` is the only call that commits
  deletions; `abort()` (and any error) closes the socket without QUIT, so nothing is deleted.
* After a timeout, a dropped connection or a response that does not parse, the client is
  *broken*: every further command raises `ProtocolError` and only `abort()` is allowed, so no
  DELE or QUIT can ever be sent on a desynchronised stream.
* A message is only accepted once its `CRLF.CRLF` terminator has arrived, and never when it is
  shorter than the size LIST announced.
"""

from __future__ import annotations

import os
from array import array
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from tui.core.net.failures import SERVER_TEXT_LIMIT
from tui.core.net.pop3 import auth
from tui.core.net.pop3.auth import Mechanism, Secret
from tui.core.net.pop3.connect import OpenedSession, open_session
from tui.core.net.pop3.errors import (
    CommandRejected,
    MessageSizeMismatch,
    Pop3Error,
    Pop3UsageError,
    ProtocolError,
    ServerTemporaryError,
    UidlUnsupported,
    error_for_reply,
)
from tui.core.net.pop3.limits import STATUS_LINE, Budget, message_budget, skippable
from tui.core.net.pop3.listing import check_listed
from tui.core.net.pop3.listing_commands import ListingCommands
from tui.core.net.pop3.wire import BodyTooLong, Pop3Wire
from tui.core.net.tls import CertificateInfo, certificate_info
from tui.core.settings import Security
from tui.core.text import one_line

if TYPE_CHECKING:
    import socket

DEFAULT_TIMEOUT = 30.0
"""Seconds any connect, handshake, read or write may take before the session is given up."""


class Pop3Client(ListingCommands):
    """One POP3 session. Build it with `Pop3Client.connect(...)`.

    As a context manager, leaving the block closes the socket without QUIT unless `quit()` was
    called: only an explicit `quit()` commits deletions.
    """

    def __init__(self, opened: OpenedSession, security: Security) -> None:
        self._wire = opened.wire
        self.host = opened.wire.host
        self.port = opened.wire.port
        self.security = security
        self.timeout = opened.wire.timeout
        self._outstanding = 0
        """Pipelined responses sent for but not yet read (only inside `retrieve`)."""
        self._deferred_dele: list[int] = []
        self._authenticated = False
        self._capa_supported = opened.capabilities is not None
        self._uidl_supported = None  # this, _stat and _listed: see ListingCommands
        self.capabilities: dict[str, list[str]] = opened.capabilities or {}
        """CAPA as `{"SASL": ["PLAIN", "LOGIN"], "PIPELINING": [], ...}`; keys upper-case."""
        self._peer_der = opened.peer_der
        self._certificate: CertificateInfo | None = None
        self._stat = None
        self._listed = None
        self._handed_listing: tuple[int, int, bytes, bytes] | None = None
        self._early: deque[int] = deque()
        """RETRs an earlier reader of this session sent (`adopt`), whose answers come first."""
        self.mechanism: Mechanism | None = None
        """How the session logged in, once it has."""

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        security: Security | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pinned_fingerprint: str = "",
        ca_file: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Connect, read the greeting and CAPA, and bring TLS up as `security` demands.

        With a pinned fingerprint the certificate chain and host name are not checked; the
        certificate must instead be exactly the pinned one. Without a pin, a certificate that
        fails verification raises `UntrustedCertificate` with its details, which are read on a
        second, non-verifying connection that is closed straight after the handshake.
        """
        security = Security(security)
        opened = open_session(
            host,
            port,
            security,
            timeout=timeout,
            pinned_fingerprint=pinned_fingerprint,
            ca_file=ca_file,
        )
        return cls(opened, security)

    @classmethod
    def adopt(
        cls,
        sock: socket.socket,
        host: str,
        port: int,
        security: Security | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        peer_der: bytes | None,
        mechanism: Mechanism,
        listed: tuple[int, int, bytes, bytes] | None = None,
        early: tuple[int, Sequence[int]] | None = None,
    ) -> Self:
        """Go on with a session another client opened and logged in (the quick check's:
        `sync.session_handover`), in the TRANSACTION state with nothing pending: CAPA is read
        again, as after any login (which also shows the session still answers). The caller
        checked the certificate when it opened it. Raises (and closes the socket) when the
        session no longer answers. `listed` is what that client listed on this session (STAT's
        count and octets, LIST's and UIDL's bodies): `listings()` reads it instead of asking
        the server again. `early` is what a reader of this session sent and received before
        it (`sync.early_retrieval`): a file of the bytes, read before the socket, which begin
        with CAPA's answer, and the numbers whose RETR it sent after CAPA, answered next."""
        sock.settimeout(timeout)
        wire = Pop3Wire(sock, host.strip(), port, timeout)
        if early is not None:
            wire.prime(early[0])
        wire.line_limit = STATUS_LINE
        client = cls(OpenedSession(wire, {}, peer_der), Security(security))
        client._authenticated = True
        client.mechanism = mechanism
        client._handed_listing = listed
        try:
            capabilities = wire.capa(sent=early is not None)
        except BaseException:
            wire.close()
            raise
        client._capa_supported = capabilities is not None
        client.capabilities = capabilities or {}
        if early is not None:
            client._early = deque(int(number) for number in early[1])
        return client

    @property
    def certificate(self) -> CertificateInfo | None:
        """The server's certificate once TLS is up (None for Security.NONE).

        Described on first use: parsing it costs more than a whole "nothing new" fetch needs.
        """
        if self._certificate is None and self._peer_der is not None:
            self._certificate = certificate_info(self._peer_der)
        return self._certificate

    # ------------------------------------------------------------------- state

    @property
    def supports_pipelining(self) -> bool:
        return "PIPELINING" in self.capabilities

    @property
    def supports_uidl(self) -> bool:
        """From CAPA; without CAPA, probed once with a UIDL command after login."""
        if self._uidl_supported is not None:
            return self._uidl_supported
        if self._capa_supported:
            return "UIDL" in self.capabilities
        if not self._authenticated or not self.usable:
            return False
        try:
            self.uidl_listing()
        except UidlUnsupported:
            self._uidl_supported = False
        return bool(self._uidl_supported)

    @property
    def login_delay_seconds(self) -> int | None:
        """CAPA `LOGIN-DELAY n`: the server's minimum seconds between logins, if announced."""
        values = self.capabilities.get("LOGIN-DELAY") or []
        return int(values[0]) if values and values[0].isdigit() else None

    @property
    def usable(self) -> bool:
        """Open and not broken: commands may be sent."""
        return self._wire.is_open and not self._wire.broken

    @property
    def closed(self) -> bool:
        return not self._wire.is_open

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("broken" if self._wire.broken else "open")
        return f"<Pop3Client {self.host}:{self.port} {self.security.value} {state}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    # ---------------------------------------------------------------- commands

    def login(self, username: str, secret: Secret) -> Mechanism:
        """Log in with a password (SASL PLAIN when CAPA offers it, else USER/PASS; never APOP)
        or an OAuth2 token (XOAUTH2 / OAUTHBEARER); see `auth.login`. Re-reads CAPA afterwards.
        """
        self._begin_command()
        if self._authenticated:
            raise Pop3UsageError("already logged in")
        self.mechanism = auth.login(
            self._wire,
            self.capabilities.get("SASL", []),
            username,
            secret,
            lambda text: self._error_for(text, "auth"),
        )
        self._authenticated = True
        if self._capa_supported:
            # Servers may announce more (e.g. PIPELINING) once logged in.
            capabilities = self._wire.capa()
            self._capa_supported = capabilities is not None
            self.capabilities = capabilities or {}
        return self.mechanism

    def top(self, number: int, lines: int = 0) -> bytes:
        """Headers (and `lines` body lines) of a message, un-dot-stuffed, CRLF kept."""
        budget = self._message_budget(int(number), None, "the headers (TOP) of message")
        self._simple(f"TOP {int(number)} {int(lines)}", number=number)
        return self._wire.read_multiline(budget)

    def retrieve(
        self,
        numbers: Iterable[int],
        *,
        expected_sizes: Mapping[int, int] | None = None,
        batch: int = 50,
    ) -> Iterator[tuple[int, bytes]]:
        """Yield (number, raw message) in order as each arrives.

        With PIPELINING, up to `batch` RETR commands are kept in flight (refilled half a
        batch at a time); otherwise one at a time. A message is yielded only when complete,
        un-dot-stuffed, with its CRLF line ends. With `expected_sizes` (from LIST) a message
        shorter than announced raises MessageSizeMismatch; a longer one is accepted (some
        servers count stored LF line ends), up to twice the announced size.

        `dele()` called while responses are still in flight is deferred until the pipeline is
        empty and always happens before any later command, QUIT included. Closing the
        iterator early reads and discards the responses still in flight, so the session stays
        usable; if that fails the client is broken. A -ERR for one RETR raises CommandRejected
        (with `.number`) after the same drain.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        # The engine's plan is a `MessageNumbers` (runs): checked and sent from as it is, never
        # copied into an object per message; anything else is held as machine integers.
        wanted = numbers if isinstance(numbers, Sequence) else array("q", map(int, numbers))
        early = self._early_prefix(wanted)
        self._begin_command()
        for number in wanted:
            self._check_listed(int(number))
        window = batch if self.supports_pipelining else 1
        return self._retrieve(wanted, expected_sizes or {}, window, early)

    def _early_prefix(self, wanted: Sequence[int]) -> deque[int]:
        """The RETRs sent before this client (`adopt`), taken as this retrieve's first ones
        when `wanted` begins with exactly them; otherwise left for `_begin_command` to drop."""
        early = self._early
        if not early or len(early) > len(wanted):
            return deque()
        if any(int(number) != sent for number, sent in zip(wanted, early, strict=False)):
            return deque()
        self._early = deque()
        return early

    def _retrieve(
        self,
        numbers: Sequence[int],
        sizes: Mapping[int, int],
        window: int,
        early: deque[int],
    ) -> Generator[tuple[int, bytes], None, None]:
        todo, left = iter(numbers), len(numbers) - len(early)
        for _ in early:
            next(todo)
        pending = early
        """Numbers whose RETR was sent and whose response has not been read at all."""
        self._outstanding = len(pending)
        try:
            while left or pending:
                if len(pending) <= window // 2 and left:
                    commands = []
                    while left and len(pending) < window:
                        n, left = int(next(todo)), left - 1
                        pending.append(n)
                        commands.append(b"RETR %d\r\n" % n)
                    self._outstanding = len(pending)
                    self._wire.send(b"".join(commands), shown=f"RETR x{len(commands)}")
                number = pending.popleft()
                # On a clean -ERR or a size mismatch this response has been read completely,
                # so only the ones still in `pending` need draining.
                raw = self._read_retr(number, sizes.get(number))
                self._outstanding = len(pending)
                yield number, raw
        finally:
            self._outstanding = 0
            if pending and self.usable:
                self._drain(len(pending))
        self._flush_deferred()

    def _read_retr(self, number: int, expected: int | None) -> bytes:
        ok, text = self._wire.read_status()
        if not ok:
            raise self._error_for(text, "RETR", number)
        budget = skippable(self._message_budget(number, expected, "message"))
        try:
            raw = self._wire.read_multiline(budget)
        except BodyTooLong as too_long:
            # Read to its end and discarded: skipped, and the session goes on in step.
            err = MessageSizeMismatch(
                f"Message {number} from {self.host} is {too_long.length:,} bytes, {budget.what}; "
                "it was not accepted.",
                number=number,
                expected=expected if expected is not None else 0,
                received=too_long.length,
            )
            err.in_sync = True
            raise err from None
        if expected is not None and len(raw) < expected:
            # In sync (the terminator arrived), but the message is shorter than announced.
            err = MessageSizeMismatch(
                f"Message {number} from {self.host} is {len(raw)} bytes but the server "
                f"announced {expected}; it may be truncated, so it was not accepted.",
                number=number,
                expected=expected,
                received=len(raw),
            )
            err.in_sync = True
            raise err
        return raw

    def _drain(self, count: int) -> None:
        """Read and discard `count` pipelined RETR responses so the stream is back in sync."""
        try:
            for _ in range(count):
                ok, _text = self._wire.read_status()
                if ok:
                    self._wire.read_multiline()
        except BaseException:
            self._wire.mark_broken("could not drain pipelined responses")
            raise

    def dele(self, number: int) -> None:
        """Mark a message for deletion; it is removed only if the session ends with `quit()`."""
        if self._outstanding and self.usable:
            self._deferred_dele.append(int(number))
            return
        self._simple(f"DELE {int(number)}", number=number)

    def dele_many(self, numbers: Iterable[int]) -> None:
        """Mark several messages for deletion, pipelined when the server allows it.

        One round trip per 50 messages instead of one per message. If the server refuses
        some, the rest are still marked and CommandRejected names the refused ones.
        """
        wanted = [int(n) for n in numbers]
        if self._outstanding and self.usable:
            self._deferred_dele.extend(wanted)
            return
        self._begin_command()
        self._deferred_dele = wanted
        self._flush_deferred()

    def _flush_deferred(self) -> None:
        if not self._deferred_dele:
            return
        numbers, self._deferred_dele = self._deferred_dele, []
        window = 50 if self.supports_pipelining else 1
        refused: list[tuple[int, str]] = []
        for start in range(0, len(numbers), window):
            chunk = numbers[start : start + window]
            self._wire.send(
                b"".join(b"DELE %d\r\n" % n for n in chunk), shown=f"DELE x{len(chunk)}"
            )
            for n in chunk:
                ok, text = self._wire.read_status()
                if not ok:
                    refused.append((n, one_line(text, SERVER_TEXT_LIMIT)))
        if refused:
            shown = ", ".join(str(n) for n, _ in refused[:10])
            err = CommandRejected(
                f"{self.host} refused to delete message(s) {shown}: {refused[0][1]}",
                server_text=refused[0][1],
                number=refused[0][0],
            )
            err.in_sync = True
            raise err

    def noop(self) -> None:
        self._simple("NOOP")

    def quit(self) -> None:
        """Send QUIT and close: this is what makes the server delete DELE'd messages.

        A -ERR to QUIT means the server could not remove them (RFC 1939): raised as
        ServerTemporaryError. The socket is closed in every case.
        """
        if self._wire.is_open and self._wire.broken:
            reason = self._wire.broken
            self.abort()
            raise ProtocolError(
                f"The connection to {self.host} was closed without QUIT after an earlier error "
                f"({reason}); nothing was deleted."
            )
        try:
            self._begin_command()
            self._wire.send_line("QUIT")
            ok, text = self._wire.read_status()
        finally:
            self._wire.close()
        if not ok:
            server_text = one_line(text, SERVER_TEXT_LIMIT)
            raise ServerTemporaryError(
                f"{self.host} could not remove the deleted messages: {server_text}",
                server_text=server_text,
            )

    def abort(self) -> None:
        """Close the socket without QUIT, so the server deletes nothing. Never raises.

        Safe to call from another thread to interrupt a blocked read (the reader then gets
        ConnectionLost).
        """
        self._deferred_dele = []
        self._wire.close()

    # ------------------------------------------------------------------- caps

    def _check_listed(self, number: int) -> None:
        check_listed(self.host, number, self._listed, self._stat)

    def _message_budget(self, number: int, expected: int | None, what: str) -> Budget:
        self._check_listed(number)
        if expected is None and self._listed is not None:
            expected = int(self._listed[number])
        total = None if self._stat is None else self._stat[1]
        return message_budget(f"{what} {number}", expected, total)

    # --------------------------------------------------------------- internals

    def _simple(self, command: str, *, number: int | None = None) -> str:
        """Send `command` and read its status line; a -ERR raises the error it means."""
        self._begin_command()
        self._wire.send_line(command)
        ok, text = self._wire.read_status()
        if not ok:
            verb = command.split(" ", 1)[0]
            raise self._error_for(text, verb, number)
        return text

    def _begin_command(self) -> None:
        if not self._wire.is_open:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        if self._wire.broken:
            raise ProtocolError(
                f"The connection to {self.host} is unusable after an earlier error "
                f"({self._wire.broken}); it must be aborted."
            )
        if self._outstanding:
            raise Pop3UsageError(
                "pipelined RETR responses are still in flight: finish or close the retrieve() "
                "iterator before sending another command"
            )
        if self._early:
            # Answers to RETRs sent before this client that nobody wants: read and dropped,
            # so the next answer read is this command's.
            count, self._early = len(self._early), deque()
            self._drain(count)
        self._flush_deferred()

    def _error_for(self, text: str, context: str, number: int | None = None) -> Pop3Error:
        """The error a -ERR means; the session is still in step after it."""
        err = error_for_reply(
            text,
            context,
            host=self.host,
            port=self.port,
            number=number,
            login_delay=self.login_delay_seconds,
        )
        err.in_sync = True
        return err
