"""Handing a message to an LMTP server (RFC 2033), e.g. Dovecot's LMTP socket.

LHLO, MAIL FROM, RCPT TO, DATA; the server answers once per recipient after the data, and only
250 there means delivered. Lines go out with CRLF and dot-stuffed. Whatever the server says is
a stranger's text: it is cleaned before it reaches an error message.
"""

from __future__ import annotations

import contextlib
import re
import socket

from tui.core.delivery.errors import DeliveryError
from tui.core.delivery.targets import DeliveryTarget, host_port
from tui.core.text import one_line

LMTP_TIMEOUT = 60.0
MAX_REPLY_LINES = 100
MAX_LINE = 2048

_BARE_LF = re.compile(rb"(?<!\r)\n")
_DOT_LINE = re.compile(rb"^\.", re.MULTILINE)


def wire_data(raw: bytes) -> bytes:
    """The DATA section: CRLF line ends, a leading dot doubled, ended by CRLF . CRLF."""
    data = _DOT_LINE.sub(b"..", _BARE_LF.sub(b"\r\n", raw))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class _Session:
    def __init__(self, target: DeliveryTarget, timeout: float) -> None:
        self.label = f"LMTP {one_line(target.address, 80)}"
        try:
            if target.address.startswith("/"):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(target.address)
            else:
                self.sock = socket.create_connection(host_port(target), timeout=timeout)
        except OSError as error:
            raise self.failure(error.strerror or str(error)) from error
        self.file = self.sock.makefile("rb")

    def failure(self, words: str) -> DeliveryError:
        return DeliveryError(f"Could not deliver to {self.label}: {words}")

    def reply(self) -> tuple[int, str]:
        lines: list[str] = []
        try:
            for _ in range(MAX_REPLY_LINES):
                line = self.file.readline(MAX_LINE + 1)
                if not line:
                    raise self.failure("the server closed the connection")
                if len(line) > MAX_LINE or len(line) < 4 or not line[:3].isdigit():
                    raise self.failure(f"unexpected reply {one_line(line.decode('latin-1'), 80)!r}")
                lines.append(line[4:].decode("utf-8", "replace").strip())
                if line[3:4] != b"-":
                    return int(line[:3]), one_line(" ".join(lines), 200)
        except OSError as error:
            raise self.failure(error.strerror or str(error)) from error
        raise self.failure("the server's reply never ended")

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise self.failure(error.strerror or str(error)) from error

    def command(self, line: str, *, want: tuple[int, ...], doing: str) -> tuple[int, str]:
        self.send(line.encode("utf-8") + b"\r\n")
        return self.expect(want, doing)

    def expect(self, want: tuple[int, ...], doing: str) -> tuple[int, str]:
        code, text = self.reply()
        if code not in want:
            later = " (temporary: tried again on the next fetch)" if 400 <= code < 500 else ""
            raise self.failure(f"{doing} was refused: {code} {text}{later}")
        return code, text

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"QUIT\r\n")
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()


def deliver_lmtp(
    target: DeliveryTarget,
    raw: bytes,
    recipient: str,
    *,
    sender: str = "",
    timeout: float = LMTP_TIMEOUT,
) -> None:
    """Deliver `raw` to `recipient` over LMTP; raise DeliveryError unless the server took it."""
    if any(c in recipient + sender for c in "\r\n<>") or not recipient:
        raise DeliveryError(f"Could not deliver over LMTP: bad recipient {one_line(recipient)!r}")
    session = _Session(target, timeout)
    try:
        session.expect((220,), "the greeting")
        _code, caps = session.command(
            f"LHLO {socket.gethostname() or 'localhost'}", want=(250,), doing="LHLO"
        )
        body = " BODY=8BITMIME" if "8BITMIME" in caps.upper() else ""
        session.command(f"MAIL FROM:<{sender}>{body}", want=(250,), doing="MAIL FROM")
        session.command(f"RCPT TO:<{recipient}>", want=(250, 251), doing=f"RCPT TO {recipient}")
        session.command("DATA", want=(354,), doing="DATA")
        session.send(wire_data(raw))
        session.expect((250,), f"the message for {recipient}")
    finally:
        session.close()
