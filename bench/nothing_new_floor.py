"""The floor of a "nothing new" run in Python: what `poptui fetch` cannot do without.

    python bench/nothing_new_floor.py HOST PORT USER PASSWORD DATABASE [--pin SHA256]

Interpreter start, sqlite3 and socket (ssl with a pin): the stored UIDLs of account 1 read,
AUTH PLAIN, UIDL, the two compared, QUIT, then one durable commit of a fetch-log row and the
account's outcome (WAL, synchronous=FULL), as poptui records them. No lock, no password store,
no LIST or STAT, no checks of what the server sent: nothing is proved, only timed.
Prints "messages N new M".
"""

from __future__ import annotations

import socket
import sqlite3
import sys
from binascii import b2a_base64
from datetime import UTC, datetime


def main(argv: list[str]) -> int:
    host, port, user, password, database = argv[:5]
    pin = argv[argv.index("--pin") + 1].replace(":", "").lower() if "--pin" in argv else ""
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA synchronous = FULL")
    stored = {row[0] for row in db.execute("SELECT uidl FROM message WHERE account_id = 1")}
    started = datetime.now(UTC).replace(tzinfo=None)
    # An ASCII name as bytes, as poptui connects: no idna codec (typeshed wants a str).
    sock = socket.create_connection((host.encode(), int(port)), timeout=30)  # type: ignore[arg-type]
    if pin:
        import hashlib
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=host)
        if hashlib.sha256(sock.getpeercert(binary_form=True) or b"").hexdigest() != pin:
            raise SystemExit("not the pinned certificate")
    reader = sock.makefile("rb")
    reader.readline()
    token = b2a_base64(b"\0" + user.encode() + b"\0" + password.encode(), newline=False)
    sock.sendall(b"AUTH PLAIN " + token + b"\r\n")
    if not reader.readline().startswith(b"+OK"):
        raise SystemExit("login failed")
    sock.sendall(b"UIDL\r\n")
    reader.readline()
    listed = []
    while (line := reader.readline()) != b".\r\n":
        listed.append(line.split()[1].decode())
    new = [uidl for uidl in listed if uidl not in stored]
    sock.sendall(b"QUIT\r\n")
    reader.readline()
    finished = str(datetime.now(UTC).replace(tzinfo=None))
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO fetch_log (account_id, started_at, finished_at, status) "
        "VALUES (1, ?, ?, 'ok')",
        (str(started), finished),
    )
    db.execute(
        "UPDATE account SET last_fetch_at = ?, last_fetch_status = 'ok' WHERE id = 1", (finished,)
    )
    db.execute("COMMIT")
    print(f"messages {len(listed)} new {len(new)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
