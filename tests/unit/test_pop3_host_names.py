"""Server names on their way to the resolver: an ASCII name is passed as bytes (no `idna`
codec loaded on a plain connection), a name that is no valid host name is a worded
ConnectFailed instead of a UnicodeError escaping the client."""

from __future__ import annotations

import pytest

from tests.servers.fake_pop3 import FakePop3Server
from tui.core.net.pop3 import ConnectFailed, Pop3Client
from tui.core.settings import Security


@pytest.mark.parametrize("host", ["ü..example", "\u00e9" * 70 + ".example"])
def test_an_invalid_international_name_is_a_worded_failure(host: str) -> None:
    with pytest.raises(ConnectFailed, match="not a valid host name"):
        Pop3Client.connect(host, 110, Security.NONE, timeout=2)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", " 127.0.0.1 "])
def test_ascii_names_connect(host: str) -> None:
    with (
        FakePop3Server([]) as server,
        Pop3Client.connect(host, server.port, Security.NONE, timeout=5) as client,
    ):
        assert client.usable and client.host == host.strip()
