"""The client's listing commands: STAT, LIST and UIDL, alone or pipelined (`listings()`).

A mixin of `Pop3Client`, kept apart because it is the one job a sync does before it decides
anything, and the part where a count past the cap or a refused UIDL must be caught. Every
listing is capped by STAT's count, asked first. What the client must provide is declared
below for the type checker only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tui.core.net.pop3.errors import CommandRejected, Pop3Error, UidlUnsupported
from tui.core.net.pop3.limits import Budget, listing_budget
from tui.core.net.pop3.listing import Listing, Listings, parse_listing
from tui.core.text import one_line

if TYPE_CHECKING:
    from tui.core.net.pop3.wire import Pop3Wire

_LIST = "the message list (LIST)"
_UIDL = "the unique-id list (UIDL)"


class ListingCommands:
    """STAT, LIST and UIDL for `Pop3Client`; they record what later RETR/TOP/DELE may name."""

    host: str
    _wire: Pop3Wire
    _uidl_supported: bool | None
    _stat: tuple[int, int] | None
    """STAT's (count, octets): the cap of every listing and of each listed size."""
    _listed: Mapping[int, str] | None
    """LIST's well-formed entries (number: size) once read: only these are ever retrieved."""
    _handed_listing: tuple[int, int, bytes, bytes] | None
    """STAT's count and octets, LIST's and UIDL's bodies, listed on this session before it
    was adopted (`Pop3Client.adopt`): the next `listings()` reads them (once)."""

    if TYPE_CHECKING:  # provided by Pop3Client

        @property
        def supports_pipelining(self) -> bool: ...

        def _simple(self, command: str, *, number: int | None = None) -> str: ...

        def _begin_command(self) -> None: ...

        def _error_for(self, text: str, context: str, number: int | None = None) -> Pop3Error: ...

    def stat(self) -> tuple[int, int]:
        """(message count, mailbox size in octets)."""
        text = self._simple("STAT")
        parts = text.split()
        try:
            self._stat = int(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            raise self._wire.desync(f"bad STAT reply {one_line(text, 60)!r}") from None
        return self._stat

    def list_listing(self, count: int | None = None) -> Listing:
        """LIST parsed strictly (`listing.parse_listing`); `count` is STAT's message count."""
        budget = self._listing_budget(_LIST)
        self._simple("LIST")
        listing = parse_listing(self._wire.read_multiline(budget), count, uidl=False)
        self._listed = listing.entries
        return listing

    def list_sizes(self) -> dict[int, int]:
        """{message number: size in octets (CRLF line ends)} for every well-formed LIST line."""
        return {n: int(size) for n, size in self.list_listing().entries.items()}

    def uidl(self) -> list[tuple[int, str]]:
        """[(message number, unique id)] for every well-formed UIDL line.

        Raises UidlUnsupported when the server refuses UIDL.
        """
        return sorted(self.uidl_listing().entries.items())

    def uidl_listing(self, count: int | None = None) -> Listing:
        """UIDL parsed strictly; raises UidlUnsupported when the server refuses."""
        budget = self._listing_budget(_UIDL)
        try:
            self._simple("UIDL")
        except CommandRejected as err:
            raise self._uidl_refused(err) from None
        self._uidl_supported = True
        return parse_listing(self._wire.read_multiline(budget), count, uidl=True)

    def listings(self) -> Listings:
        """STAT, LIST and UIDL, parsed strictly: what a sync needs before it can decide.

        STAT goes alone, so a count past the listing cap is refused before any listing is
        asked for. Then, with PIPELINING (RFC 2449), LIST and UIDL go out in one write and
        their replies are read in order: two round trips instead of three. Without it they
        are sent in turn. `uids` is None when the server refuses UIDL (in step, as
        `uidl_listing`'s UidlUnsupported). A -ERR to LIST while UIDL's reply is still in
        flight, or a LIST reply that cannot be read, breaks the session: nothing can be sent
        on it but `abort()`.

        On a session adopted with what its first client listed (`_handed_listing`), that
        listing is read instead, by the same parser and caps: a POP3 session's maildrop does
        not change until it ends (RFC 1939), so asking again would only cost the server a
        second listing of the whole mailbox.
        """
        handed, self._handed_listing = self._handed_listing, None
        if handed is not None:
            return self._handed_listings(*handed)
        count, octets = self.stat()
        if not self.supports_pipelining:
            sizes = self.list_listing(count)
            try:
                uids: Listing | None = self.uidl_listing(count)
            except UidlUnsupported:
                uids = None
            return Listings(count, octets, sizes, uids)
        list_budget = listing_budget(_LIST, count, self.host)
        uidl_budget = listing_budget(_UIDL, count, self.host)
        self._begin_command()
        self._wire.send(b"LIST\r\nUIDL\r\n", shown="LIST, UIDL (pipelined)")
        try:
            sizes = self._read_listing("LIST", list_budget, count, uidl=False)
        except BaseException as error:
            # UIDL's reply is still unread: the stream is out of step from here on.
            self._wire.mark_broken("pipelined UIDL reply left unread")
            if isinstance(error, Pop3Error):
                error.in_sync = False
            raise
        self._listed = sizes.entries
        try:
            uids = self._read_listing("UIDL", uidl_budget, count, uidl=True)
        except CommandRejected as err:
            self._uidl_refused(err)
            return Listings(count, octets, sizes, None)
        self._uidl_supported = True
        return Listings(count, octets, sizes, uids)

    def _handed_listings(
        self, count: int, octets: int, list_body: bytes, uidl_body: bytes
    ) -> Listings:
        """`listings()` from bodies received earlier on this session (by a reader that held
        them to a tighter length), under the same cap on STAT's count."""
        listing_budget(_LIST, count, self.host)  # TooManyMessages past the cap, as after STAT
        self._stat = count, octets
        sizes = parse_listing(list_body, count, uidl=False)
        self._listed = sizes.entries
        uids = parse_listing(uidl_body, count, uidl=True)
        self._uidl_supported = True
        return Listings(count, octets, sizes, uids)

    def _read_listing(self, verb: str, budget: Budget, count: int, *, uidl: bool) -> Listing:
        ok, text = self._wire.read_status()
        if not ok:
            raise self._error_for(text, verb)
        return parse_listing(self._wire.read_multiline(budget), count, uidl=uidl)

    def _uidl_refused(self, err: CommandRejected) -> UidlUnsupported:
        """A plain -ERR to UIDL: remembered, and returned as UidlUnsupported (in step).

        A more specific rejection (e.g. the mailbox is locked) is not a refusal of UIDL
        itself: it is raised again as it is.
        """
        if type(err) is not CommandRejected:
            raise err
        self._uidl_supported = False
        unsupported = UidlUnsupported(
            f"{self.host} does not support UIDL, so mail cannot safely be left on the "
            f"server (it said: {err.server_text})",
            server_text=err.server_text,
        )
        unsupported.in_sync = True
        return unsupported

    def _listing_budget(self, what: str) -> Budget:
        """LIST and UIDL may hold at most as many lines as STAT announced (asked first)."""
        count, _octets = self._stat or self.stat()
        return listing_budget(what, count, self.host)
