"""The device sign-in's QR code: what is drawn is the matrix segno made for the address (read
back from the half blocks, no QR decoder needed), drawn only when it fits, and nothing a
server sent is drawn or shown unless it is an https/loopback address of printable ASCII."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import segno

from tui.cli.console import Console
from tui.cli.signin import QR_COLOURS, _draw_qr
from tui.core.oauth.errors import SignInFailed
from tui.core.oauth.flows import start_device
from tui.core.oauth.providers import Endpoints, Flow, ProviderName
from tui.core.oauth.qr import QUIET_ZONE, half_blocks, qr_lines, verified_address

ADDRESS = "https://microsoft.com/devicelogin"


def drawn_matrix(lines: list[str], rows: int) -> list[list[bool]]:
    """Read the modules back from the half blocks: a drawn (light) half is a light module."""
    top = {" ": False, "▀": True, "▄": False, "█": True}
    bottom = {" ": False, "▀": False, "▄": True, "█": True}
    matrix: list[list[bool]] = []
    for line in lines:
        matrix.append([not top[c] for c in line])
        matrix.append([not bottom[c] for c in line])
    return matrix[:rows]


@pytest.mark.parametrize(
    "address",
    [
        ADDRESS,
        "http://127.0.0.1:8080/device",
        "https://login.example.com/device?user_code=WDJB-MJHT",
    ],
)
def test_the_drawing_is_the_matrix_segno_made(address: str) -> None:
    expected = [
        [bool(m) for m in row]
        for row in segno.make(address, error="l", micro=False).matrix_iter(border=QUIET_ZONE)
    ]
    lines = qr_lines(address, width=200, height=200)
    assert len(lines) == (len(expected) + 1) // 2
    assert {len(line) for line in lines} == {len(expected[0])}
    assert drawn_matrix(lines, len(expected)) == expected
    assert set("".join(lines)) <= set(" ▀▄█")


def test_the_quiet_zone_is_light_and_an_odd_last_row_is_kept() -> None:
    lines = half_blocks([[False, True], [True, False], [False, False]])
    assert lines == ["▀▄", "▀▀"]


def test_it_is_not_drawn_where_it_does_not_fit() -> None:
    full = qr_lines(ADDRESS, width=200, height=200)
    assert qr_lines(ADDRESS, width=len(full[0]) - 1, height=200) == []
    assert qr_lines(ADDRESS, width=200, height=len(full) - 1) == []


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("https://evil.example/\x1b]52;c;cm0gLXJmIH4=\x07", "control"),
        ("https://evil.example/\x1b[2J", "control"),
        ("http://evil.example/device", "https://"),
        ("javascript:alert(1)", "https://"),
        ("https://evil.example/\u202edevice", "control"),
        ("https://evil.example/" + "a" * 500, "longer"),
        ("", "https://"),
    ],
)
def test_a_hostile_verification_address_is_refused_clearly(address: str, words: str) -> None:
    with pytest.raises(SignInFailed) as caught:
        verified_address(address)
    said = caught.value.in_words()
    assert "will not show" in said and words in said
    assert "\x1b" not in said and "\u202e" not in said


@pytest.fixture
def device_endpoint() -> Iterator[tuple[str, dict[str, Any]]]:
    """A device endpoint answering whatever the test puts in the dict."""
    answer: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/device", answer
    server.shutdown()
    server.server_close()


def endpoints(device_url: str) -> Endpoints:
    return Endpoints(ProviderName.GENERIC, "app", "", device_url, device_url, "mail", Flow.DEVICE)


def test_a_device_endpoint_sending_escapes_is_refused(
    device_endpoint: tuple[str, dict[str, Any]],
) -> None:
    url, answer = device_endpoint
    answer.update(
        device_code="d", user_code="ABCD-EFGH", verification_uri="https://x.example/\x1b[31m"
    )
    with pytest.raises(SignInFailed, match="will not show"):
        start_device(endpoints(url))
    answer.update(verification_uri="https://login.example.com/device", user_code="\x1b[2J")
    with pytest.raises(SignInFailed, match="user code"):
        start_device(endpoints(url))
    answer.update(
        user_code="ABCD-EFGH",
        verification_uri_complete="http://evil.example/?user_code=ABCD-EFGH",
    )
    code = start_device(endpoints(url))  # the optional complete address is dropped, not shown
    assert code.verification_uri_complete == ""
    assert code.verification_uri == "https://login.example.com/device"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_cli_draws_it_only_on_a_terminal_where_it_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    small = Terminal()
    _draw_qr(Console(out=small), ADDRESS)
    assert small.getvalue() == ""  # 17 lines of code and the words around it: too tall
    monkeypatch.setenv("LINES", "50")
    piped = io.StringIO()
    _draw_qr(Console(out=piped), ADDRESS)
    assert piped.getvalue() == ""
    terminal = Terminal()
    _draw_qr(Console(out=terminal), ADDRESS)
    drawn = terminal.getvalue()
    assert "scan this with a phone" in drawn
    assert QR_COLOURS in drawn and "█" in drawn
