"""A scriptable LMTP server on a unix socket, for the replies a real one rarely gives: 452 or
550 per recipient, escape sequences in its words, a connection dropped mid-session."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path


class FakeLmtp:
    """Answers LMTP; `replies` overrides the reply to a command (keyed "RCPT", "DATA-END", …)."""

    def __init__(self, path: Path, replies: dict[str, bytes] | None = None) -> None:
        self.path = path
        self.replies = replies or {}
        self.received: list[bytes] = []
        """The DATA of each message, as it crossed the wire (dot-stuffed, CRLF)."""
        self.commands: list[bytes] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(5)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _reply(self, key: str, default: bytes) -> bytes:
        return self.replies.get(key, default)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):  # the client hung up: the next one may come
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(self._reply("GREETING", b"220 fake LMTP\r\n"))
            for line in lines:
                self.commands.append(line.rstrip(b"\r\n"))
                verb = line.strip().split(b":")[0].split(b" ")[0].upper().decode()
                if verb == "DATA":
                    conn.sendall(self._reply("DATA", b"354 go ahead\r\n"))
                    data = b""
                    for body_line in lines:
                        if body_line == b".\r\n":
                            break
                        data += body_line
                    self.received.append(data)
                    conn.sendall(self._reply("DATA-END", b"250 2.0.0 delivered\r\n"))
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(self._reply(verb, b"250 ok\r\n"))

    def close(self) -> None:
        self._sock.close()
