"""A TCP proxy on 127.0.0.1 that adds a fixed delay each way: a distant server, made locally.

Every chunk read from one side is sent on to the other `delay` seconds after it arrived (order
kept, bandwidth not limited), so a round trip through the proxy takes 2 x `delay` longer: with
the default 25 ms each way, a server 50 ms away, as a mail provider across a continent is.
Used by bench/concurrent_bench.py; standalone (no poptui, no test code).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from typing import Self

HOST = "127.0.0.1"


class LatencyProxy:
    """Forward 127.0.0.1:<port> to `target`, each direction delayed by `delay` seconds."""

    def __init__(self, target: tuple[str, int], delay: float = 0.025) -> None:
        self.target = target
        self.delay = delay
        self.port = 0
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True, name=f"latency-{self.port}").start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=30)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            self._pipe(client, upstream)
            self._pipe(upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """One direction: a reader stamps each chunk, a writer sends it when its time comes."""
        held: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                held.put((time.monotonic() + self.delay, data))
                if not data:
                    return

        def write() -> None:
            while True:
                due, data = held.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if not data:
                        sink.shutdown(socket.SHUT_WR)
                        return
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()


def main() -> None:
    """`python latency_proxy.py HOST PORT DELAY`: prints its port, serves until killed.

    Run one process per proxied server, so proxies do not share one interpreter's lock and
    the delay each adds stays what it says under load."""
    import sys

    host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    proxy = LatencyProxy((host, port), delay).start()
    print(proxy.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
