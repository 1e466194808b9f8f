"""Network failures in words, said the same way for POP3 and SMTP."""

from __future__ import annotations

import errno
import socket

SERVER_TEXT_LIMIT = 200
"""How much of a server's own words an error message quotes (cleaned by `text.one_line`)."""


def describe_connect_error(exc: OSError, timeout: float) -> str:
    """Why a TCP connection could not be made, with what to check; follows "Could not connect"."""
    if isinstance(exc, socket.gaierror):
        return "the server name could not be found (check the spelling, or are you offline?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the port right?)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s (is the port right? is a firewall in the way?)"
    if exc.errno == errno.ENETUNREACH:
        return "network unreachable (are you online?)"
    if exc.errno == errno.EHOSTUNREACH:
        return "host unreachable"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()
