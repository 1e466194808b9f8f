"""TLS made with `_ssl`, the C module under `ssl`, for the quick "nothing new" check.

Importing `ssl` loads `socket`, `enum` and the enum classes it builds, `base64` and more: ~25 ms
of a ~100 ms "nothing new" run over TLS, for a check that needs only a context, a handshake,
reads and writes. `_ssl` is the same OpenSSL binding `ssl` drives: the contexts below are built
with the very settings of `tls_context.client_context` (tests/unit/test_light_tls.py compares
every one of them), and `TlsSocket` reads and writes as `ssl.SSLSocket` does. A session the
quick check hands to the engine (`sync.session_handover`) goes on over the same `TlsSocket`.
"""

from __future__ import annotations

import _ssl
import os
import sys

from tui.core.net.tls_context import hashed_ca_dir

TYPE_CHECKING = False  # not `typing`'s: that import is 2 ms of a "nothing new" run over TLS
if TYPE_CHECKING:
    import _socket
    from typing import Any


def client_context(pin: str, ca_file: str | None = None) -> _ssl._SSLContext:
    """`tls_context.client_context(pin, ca_file)` as an `_ssl` context: checking nothing when
    `pin` will be compared after the handshake, else the chain and the host name."""
    context = _ssl._SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    if pin:  # tls_context.non_verifying_context
        context.check_hostname = False
        context.verify_mode = _ssl.CERT_NONE
        context.minimum_version = _ssl.PROTO_TLSv1_2
        return context
    # ssl.create_default_context(cafile=..., capath=...): a client context verifies the chain
    # and the host name from the start (set again here, so a change of default cannot relax it)
    context.verify_mode = _ssl.CERT_REQUIRED
    context.check_hostname = True
    capath = None if ca_file is not None else hashed_ca_dir()
    if ca_file is not None or capath is not None:
        context.load_verify_locations(ca_file, capath)
    else:
        context.set_default_verify_paths()
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context


class TlsSocket:
    """A connected socket with TLS over it: what `Pop3Wire` and the quick check use of
    `ssl.SSLSocket`, each call doing what that class's does."""

    __slots__ = ("_raw", "_tls")

    def __init__(self, raw: _socket.socket, tls: Any) -> None:
        """`tls`: the `_ssl._SSLSocket` over `raw` (not in the typing stubs)."""
        self._raw = raw
        self._tls = tls

    @classmethod
    def handshake(cls, context: _ssl._SSLContext, raw: _socket.socket, host: str) -> TlsSocket:
        """`context.wrap_socket(raw, server_hostname=host)`: the handshake within the socket's
        timeout; the socket is closed when it fails."""
        try:
            # The name as `ssl` passes it on: IDNA, whose codec (a module import) an ASCII name
            # of 1- to 63-character labels does not need: it encodes to the same characters.
            labels = host.removesuffix(".").split(".")
            plain = host.isascii() and all(0 < len(label) < 64 for label in labels)
            name = host if plain else host.encode("idna").decode("ascii")
            wrap = context._wrap_socket  # type: ignore[attr-defined]
            tls = wrap(raw, False, name, owner=None, session=None)
            tls.do_handshake()
        except BaseException:
            raw.close()
            raise
        return cls(raw, tls)

    def recv_into(self, buffer: memoryview | bytearray, nbytes: int = 0) -> int:
        try:
            return int(self._tls.read(nbytes or len(buffer), buffer))
        except _ssl.SSLEOFError:  # ssl.SSLSocket's suppress_ragged_eofs: an end of stream
            return 0

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        with memoryview(data) as view, view.cast("B") as octets:
            sent = 0
            while sent < len(octets):
                sent += self._tls.write(octets[sent:])

    def pending(self) -> int:
        return int(self._tls.pending())

    def getpeercert(self, binary_form: bool = False) -> bytes | dict[str, object] | None:
        return self._tls.getpeercert(binary_form)  # type: ignore[no-any-return]

    def settimeout(self, timeout: float | None) -> None:
        self._raw.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._raw.gettimeout()

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self._raw.setsockopt(level, option, value)

    def fileno(self) -> int:
        return self._raw.fileno()

    def shutdown(self, how: int) -> None:
        self._raw.shutdown(how)

    def close(self) -> None:
        self._raw.close()
