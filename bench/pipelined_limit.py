"""The practical limit: a pipelined raw-socket POP3 client that writes each message to a file.

What a client that does nothing but fetch can reach on this machine: RETR commands kept in
flight (RFC 2449 PIPELINING, a window of 64), replies read in 256 KiB chunks, bodies found by
their CRLF.CRLF end, un-dot-stuffed and written one file per message into a directory (give
it one on tmpfs: no disk in the way). No parsing, no database, no fsync.

    python bench/pipelined_limit.py HOST PORT USER PASSWORD OUTDIR [--tls CAFILE] [--uidl-only]

Prints one line: "messages N bytes B". With --uidl-only it logs in, asks UIDL and quits, the
least any client does to learn that nothing is new. Without PIPELINING in CAPA it sends one
RETR at a time (old servers), still reading in large chunks.
"""

from __future__ import annotations

import os
import socket
import sys

WINDOW = 64
CHUNK = 256 * 1024


class Wire:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def fill(self) -> None:
        data = self.sock.recv(CHUNK)
        if not data:
            raise SystemExit("server closed the connection")
        self.buf += data

    def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self.fill()
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def ok(self) -> bytes:
        line = self.line()
        if not line.startswith(b"+OK"):
            raise SystemExit(f"server said {line[:80]!r}")
        return line

    def body(self) -> bytes:
        """A dot-terminated body, un-dot-stuffed, CRLF kept."""
        if self.buf[:3] == b".\r\n":
            del self.buf[:3]
            return b""
        pos = 0
        while (end := self.buf.find(b"\r\n.\r\n", pos)) < 0:
            pos = max(0, len(self.buf) - 4)
            self.fill()
        body = bytes(self.buf[: end + 2])
        del self.buf[: end + 5]
        if body.startswith(b".."):
            body = body[1:]
        return body.replace(b"\r\n..", b"\r\n.")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def main(argv: list[str]) -> int:
    host, port, user, password, outdir = argv[0], int(argv[1]), argv[2], argv[3], argv[4]
    cafile = argv[argv.index("--tls") + 1] if "--tls" in argv else None
    sock = socket.create_connection((host, port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if cafile:
        import ssl  # only for TLS: a plain run does not pay for loading it

        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False
        sock = context.wrap_socket(sock)
    wire = Wire(sock)
    wire.ok()
    wire.send(b"CAPA\r\n")
    caps = wire.body().upper() if wire.line().startswith(b"+OK") else b""
    wire.send(f"USER {user}\r\nPASS {password}\r\n".encode())
    wire.ok()
    wire.ok()
    if "--uidl-only" in argv:
        wire.send(b"UIDL\r\n")
        wire.ok()
        count = wire.body().count(b"\r\n")
        wire.send(b"QUIT\r\n")
        wire.ok()
        print(f"messages {count} bytes 0")
        return 0
    wire.send(b"STAT\r\n")
    count = int(wire.ok().split()[1])
    window = WINDOW if b"\r\nPIPELINING\r\n" in b"\r\n" + caps else 1
    total = sent = 0
    for number in range(1, count + 1):
        if sent < number + window // 2 and sent < count:
            last = min(count, number + window - 1)
            wire.send(b"".join(b"RETR %d\r\n" % n for n in range(sent + 1, last + 1)))
            sent = last
        wire.ok()
        body = wire.body()
        total += len(body)
        with open(os.path.join(outdir, str(number)), "wb") as fh:
            fh.write(body)
    wire.send(b"QUIT\r\n")
    wire.ok()
    print(f"messages {count} bytes {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
