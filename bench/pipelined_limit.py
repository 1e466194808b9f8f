"""The practical limit: a pipelined raw-socket POP3 client that writes each message to a file.

What a client that does nothing but fetch can reach on this machine: RETR commands kept in
flight (RFC 2449 PIPELINING, a window of 64), replies read in 256 KiB chunks, bodies found by
their CRLF.CRLF end, un-dot-stuffed and written one file per message into a directory (give
it one on tmpfs: no disk in the way). No parsing, no database, no fsync.

    python bench/pipelined_limit.py HOST PORT USER PASSWORD OUTDIR [--tls CAFILE] [--uidl-only]
        [--postgres URL]

Prints one line: "messages N bytes B". With --uidl-only it logs in, asks UIDL and quits, the
least any client does to learn that nothing is new. Without PIPELINING in CAPA it sends one
RETR at a time (old servers), still reading in large chunks.

With --postgres URL it stores the messages in that database instead, the cheapest durable way
a client can: binary COPY into `limit_mail (number integer, raw bytea)` (made beforehand by
`LIMIT_TABLE`: no index, no row-level security, no compression), a commit every 16 MB as
poptui's. It is the limit of any client into PostgreSQL on this machine (issue #11 item 5).
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading

WINDOW = 64
CHUNK = 256 * 1024
COMMIT_BYTES = 16 * 1024 * 1024
LIMIT_TABLE = (
    "CREATE TABLE limit_mail (number integer NOT NULL, raw bytea NOT NULL);"
    " ALTER TABLE limit_mail ALTER COLUMN raw SET STORAGE EXTERNAL"
)


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


class Store:
    """Messages into PostgreSQL by binary COPY, in a thread of its own so reading the server
    and storing overlap (as poptui's do), one transaction per 16 MB, each committed before the
    next starts (durable as poptui's commits are)."""

    def __init__(self, url: str) -> None:
        import psycopg  # only for --postgres

        self.connection = psycopg.connect(url)
        self.queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=256)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while self._transaction():
                pass
        except BaseException as exc:  # reported by close(), in the reading thread
            self.failure = exc
            while self.queue.get() is not None:  # unblock the reader; it will fail at close
                pass

    def _transaction(self) -> bool:
        """Copy messages until 16 MB or the end; commit; whether more may come."""
        pending = 0
        more = True
        with self.connection.cursor() as cursor:
            statement = "COPY limit_mail (number, raw) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                copy.set_types(["int4", "bytea"])
                while pending < COMMIT_BYTES:
                    item = self.queue.get()
                    if item is None:
                        more = False
                        break
                    copy.write_row(item)
                    pending += len(item[1])
        self.connection.commit()
        return more

    def add(self, number: int, body: bytes) -> None:
        self.queue.put((number, body))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.connection.close()
        if self.failure is not None:
            raise SystemExit(f"storing failed: {self.failure}")


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
    store = Store(argv[argv.index("--postgres") + 1]) if "--postgres" in argv else None
    for number in range(1, count + 1):
        if sent < number + window // 2 and sent < count:
            last = min(count, number + window - 1)
            wire.send(b"".join(b"RETR %d\r\n" % n for n in range(sent + 1, last + 1)))
            sent = last
        wire.ok()
        body = wire.body()
        total += len(body)
        if store is not None:
            store.add(number, body)
        else:
            with open(os.path.join(outdir, str(number)), "wb") as fh:
                fh.write(body)
    if store is not None:
        store.close()
    wire.send(b"QUIT\r\n")
    wire.ok()
    print(f"messages {count} bytes {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
