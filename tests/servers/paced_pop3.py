"""The fake POP3 server, sending chosen RETR replies slowly: a slow line or a slow-drip attack.

`PacedPop3Server(messages, pace={3: (0.5, 1)})` sends message 3 one byte every 0.5 s, so each
read returns well inside any per-read timeout while the message as a whole never finishes in
time. Everything else behaves as `FakePop3Server`.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from tests.servers.fake_pop3 import FakePop3Server, FakeSession, Reply


class _PacedSocket:
    """Wraps the server's side of a connection; sends the reply it is told to pace slowly."""

    def __init__(self, conn: socket.socket, server: PacedPop3Server) -> None:
        self._conn = conn
        self._server = server

    def sendall(self, data: bytes) -> None:
        pace, self._server.next_pace = self._server.next_pace, None
        if pace is None:
            self._conn.sendall(data)
            return
        delay, chunk = pace
        for start in range(0, len(data), chunk):
            self._conn.sendall(data[start : start + chunk])
            if self._server.stopping.wait(delay):
                return

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class PacedPop3Server(FakePop3Server):
    """`pace`: message number → (seconds between chunks, chunk size in bytes) for its RETR."""

    def __init__(
        self, messages: Sequence[bytes], *, pace: dict[int, tuple[float, int]], **options: Any
    ) -> None:
        super().__init__(messages, **options)
        self.pace = pace
        self.next_pace: tuple[float, int] | None = None
        self.stopping = self._stop
        self.handlers.setdefault("RETR", self._paced_retr)

    def _paced_retr(self, session: FakeSession, args: list[str]) -> Reply:
        reply = self._transaction_reply(session, "RETR", args)
        number = int(args[0]) if args and args[0].isdigit() else 0
        self.next_pace = self.pace.get(number)
        return reply

    def _serve(self, conn: socket.socket) -> None:
        super()._serve(_PacedSocket(conn, self))  # type: ignore[arg-type]
