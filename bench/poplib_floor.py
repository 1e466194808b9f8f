"""The floor: a bare `poplib` loop that RETRs every message and throws it away.

Run by fetch_bench.py as its own process (so its wall time and peak RSS compare with the other
tools'): python bench/poplib_floor.py HOST PORT USER PASSWORD [--tls CAFILE] [--uidl-only]

Prints one line: "messages N bytes B". With --uidl-only it logs in, asks UIDL and quits
(what any client must at least do to find out that nothing is new).
"""

from __future__ import annotations

import poplib
import ssl
import sys


def main(argv: list[str]) -> int:
    host, port, user, password = argv[0], int(argv[1]), argv[2], argv[3]
    cafile = argv[argv.index("--tls") + 1] if "--tls" in argv else None
    if cafile:
        context = ssl.create_default_context(cafile=cafile)
        client: poplib.POP3 = poplib.POP3_SSL(host, port, context=context, timeout=60)
    else:
        client = poplib.POP3(host, port, timeout=60)
    client.user(user)
    client.pass_(password)
    if "--uidl-only" in argv:
        listing = client.uidl()[1]
        client.quit()
        print(f"messages {len(listing)} bytes 0")
        return 0
    count, _size = client.stat()
    total = 0
    for number in range(1, count + 1):
        _resp, lines, _octets = client.retr(number)
        total += sum(len(line) + 2 for line in lines)
    client.quit()
    print(f"messages {count} bytes {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
