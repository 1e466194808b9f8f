"""The wire's in-place reading: one receive buffer per connection, scanned per received chunk,
a long body settled into one growing bytes object (issue #11).

A scripted socket hands the reader exactly the chunks a test chooses, so every boundary is hit
on purpose: the end marker split at every offset, a stuffed dot or a CRLF on the edge of a
settled piece, the buffer full with a status line or a body, then moved or grown. Each result
is checked against the straightforward reader (find the marker, then un-stuff the whole body).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.net.pop3 import wire as wire_module
from tui.core.net.pop3.errors import ConnectionLost, ReplyTooLarge
from tui.core.net.pop3.limits import Budget
from tui.core.net.pop3.wire import BodyTooLong, Pop3Wire

NEXT = b"+OK next\r\n"


class ScriptedSocket:
    """What a socket's reader sees: `chunks` one per recv (a chunk larger than the room asked
    for is handed out over several calls), then end of stream (or an error)."""

    def __init__(self, chunks: list[bytes], *, cut: bool = False) -> None:
        self._chunks: Iterator[bytes] = iter([c for c in chunks if c])
        self._rest = b""
        self._cut = cut
        self.recv_calls = 0

    def recv_into(self, buffer: memoryview, nbytes: int = 0) -> int:
        self.recv_calls += 1
        if not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest and self._cut:
                raise ConnectionResetError(104, "Connection reset by peer")
        count = min(len(self._rest), nbytes or len(buffer), len(buffer))
        buffer[:count] = self._rest[:count]
        self._rest = self._rest[count:]
        return count

    def setsockopt(self, *args: object) -> None:
        raise OSError("not TCP")

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        pass


def make_wire(
    chunks: list[bytes], monkeypatch: pytest.MonkeyPatch, buffer: int = 1 << 20, **kw: bool
) -> Pop3Wire:
    monkeypatch.setattr(wire_module, "_BUFFER_SIZE", buffer)
    monkeypatch.setattr(wire_module, "_SETTLE", max(4, buffer // 4))
    return Pop3Wire(ScriptedSocket(chunks, **kw), "scripted", 110, 5)  # type: ignore[arg-type]


def reference_body(stream: bytes) -> bytes:
    """The reader as RFC 1939 words it: up to the first CRLF.CRLF, each line's leading dot
    of a stuffed line dropped."""
    if stream.startswith(b".\r\n"):
        return b""
    body = stream[: stream.find(b"\r\n.\r\n") + 2]
    if body[:2] == b"..":
        body = body[1:]
    return body.replace(b"\r\n..", b"\r\n.")


def stuffed(lines: list[bytes]) -> bytes:
    """`lines` (each ending in CRLF) as a server sends them, end marker included."""
    return b"".join(b"." + x if x.startswith(b".") else x for x in lines) + b".\r\n"


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    out, pos = [], 0
    for size in sizes:
        out.append(data[pos : pos + size])
        pos += size
    out.append(data[pos:])
    return out


STREAMS = [
    b".\r\n",
    b"..\r\n.\r\n",
    b"\r\n.\r\n",
    b"a\r\n..b\r\n.\r\n",
    b"a\r\n...\r\n.\r\n",  # a stuffed "." line, then the marker: "\r\n.\r\n" inside "\r\n...\r\n"
    b"a\r\n.\r.\r\n\r\n.\r\n",  # ".\r" is no end marker
    b"a\r\n.b\r\n..\r\n.\r\n",  # an unstuffed dot line, then a stuffed one
    b"..x\r\n..\r\n...\r\n.\r\n",
    b"x\r\r\n\n.\r\n\r\n.\r\n",
]


@pytest.mark.parametrize("stream", STREAMS)
def test_the_end_marker_split_at_every_offset(
    stream: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two recv chunks, split at each byte of the body, the marker and the next reply."""
    data = stream + NEXT
    for split in range(len(data) + 1):
        wire = make_wire([data[:split], data[split:]], monkeypatch)
        assert wire.read_multiline() == reference_body(stream), split
        assert wire.read_line() == b"+OK next"


@pytest.mark.parametrize("buffer", [16, 17, 24, 64])
@pytest.mark.parametrize("stream", STREAMS)
def test_a_tiny_buffer_moves_and_settles_at_every_offset(
    stream: bytes, buffer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a 40-byte status line (so the body starts deep in the buffer), split anywhere:
    the buffer is full mid-body, moved to its start or settled, with the marker at its edge."""
    body = b"line one\r\n" + stream.replace(b"a\r\n", b"a" * 30 + b"\r\n")
    status = b"+OK " + b"s" * 36 + b"\r\n"
    data = status + body + NEXT
    for split in range(len(data) + 1):
        wire = make_wire([data[:split], data[split:]], monkeypatch, buffer)
        assert wire.read_line() == status[:-2]
        assert wire.read_multiline() == reference_body(body), split
        assert wire.read_line() == b"+OK next"


LINES = st.lists(
    st.sampled_from(
        [b"", b".", b"..", b"...", b".x", b"x.", b"a\r", b"\r", b"\n", b"text", b"..\r", b". "]
    ).map(lambda x: x + b"\r\n"),
    max_size=16,
)


@settings(max_examples=400, deadline=None)
@given(
    LINES,
    st.lists(st.integers(1, 40), max_size=8),
    st.sampled_from([16, 19, 32, 1 << 20]),
)
def test_any_stuffed_body_in_any_chunks_reads_back_as_sent(
    lines: list[bytes], sizes: list[int], buffer: int
) -> None:
    stream = stuffed(lines)
    with pytest.MonkeyPatch.context() as monkeypatch:
        wire = make_wire(chunked(stream + NEXT, sizes), monkeypatch, buffer)
        assert wire.read_multiline() == b"".join(lines) == reference_body(stream)
        assert wire.read_line() == b"+OK next"


def test_pipelined_replies_across_many_buffer_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of replies through a 64-byte buffer in 7-byte reads: each one exact."""
    replies = [[b"%s%d\r\n" % (b"." * (i % 3), j) for j in range(i % 9)] for i in range(300)]
    bodies = [b"".join(lines) for lines in replies]
    data = b"".join(b"+OK\r\n" + stuffed(lines) for lines in replies)
    wire = make_wire(chunked(data, [7] * (len(data) // 7)), monkeypatch, 64)
    for body in bodies:
        assert wire.read_status()[0] is True
        assert wire.read_multiline() == body


def test_a_body_longer_than_the_buffer_keeps_every_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [b"%s line %d\r\n" % (b"." if i % 97 == 0 else b"", i) for i in range(5000)]
    stream = stuffed(lines)
    for reads in ([4096], [1], [333, 1, 2, 3]):
        sizes = (reads * (len(stream) // sum(reads) + 1))[: len(stream)]
        wire = make_wire(chunked(stream + NEXT, sizes), monkeypatch, 1024)
        assert wire.read_multiline() == b"".join(lines)
        assert wire.read_line() == b"+OK next"


@pytest.mark.parametrize("buffer", [16, 21, 1 << 20])
def test_line_count_across_settled_pieces(buffer: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each CRLF counted once, also the ones straddling where a piece was settled."""
    lines = [b"x" * (i % 5) + b"\r\n" for i in range(200)]
    stream = stuffed(lines)
    for split in range(0, 40):
        wire = make_wire(chunked(stream + NEXT, [split] + [3] * 1000), monkeypatch, buffer)
        assert wire.read_multiline(Budget("the listing", 10_000, 200)) == b"".join(lines)
        wire = make_wire(chunked(stream + NEXT, [split] + [3] * 1000), monkeypatch, buffer)
        with pytest.raises(ReplyTooLarge, match="199 lines"):
            wire.read_multiline(Budget("the listing", 10_000, 199))
        assert wire.broken


@pytest.mark.parametrize("buffer", [16, 1 << 20])
def test_past_the_budget_is_refused_or_read_through(
    buffer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"".join(b"line %d\r\n" % i for i in range(100))  # 890 bytes
    data = body + b".\r\n" + NEXT
    wire = make_wire(chunked(data, [5] * 400), monkeypatch, buffer)
    # Checked per chunk on what arrived: a partial end marker (".\r") may count too.
    assert wire.read_multiline(Budget("message 1", len(body) + 2)) == body
    for budget in (Budget("message 1", len(body) - 1), Budget("message 1", 100)):
        wire = make_wire(chunked(data, [5] * 400), monkeypatch, buffer)
        with pytest.raises(ReplyTooLarge, match="message 1"):
            wire.read_multiline(budget)
        assert wire.broken
        wire = make_wire(chunked(data, [5] * 400), monkeypatch, buffer)
        with pytest.raises(BodyTooLong) as skipped:
            wire.read_multiline(Budget("message 1", budget.max_bytes, skip_up_to=10_000))
        assert skipped.value.length == len(body)
        assert wire.read_line() == b"+OK next"  # skipped in step
        wire = make_wire(chunked(data, [5] * 400), monkeypatch, buffer)
        with pytest.raises(ReplyTooLarge):
            wire.read_multiline(Budget("message 1", budget.max_bytes, skip_up_to=len(body) - 1))


@pytest.mark.parametrize("buffer", [16, 1 << 20])
def test_a_never_ending_body_stops_at_the_budget(
    buffer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    endless = [b"\r\n.." + b"x" * 50] * 10_000
    wire = make_wire(endless, monkeypatch, buffer)
    with pytest.raises(ReplyTooLarge):
        wire.read_multiline(Budget("message 2", 20_000))
    assert wire.broken


@pytest.mark.parametrize("buffer", [16, 1 << 20])
def test_a_connection_cut_mid_body_is_an_error(
    buffer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cut in (False, True):
        wire = make_wire([b"one\r\n..two\r\n", b"three\r\n."], monkeypatch, buffer, cut=cut)
        with pytest.raises(ConnectionLost):
            wire.read_multiline()
        assert wire.broken


def test_a_status_line_longer_than_the_buffer_grows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    line = b"+OK " + b"w" * 300
    wire = make_wire(chunked(line + b"\r\n" + NEXT, [1, 50, 7] * 50), monkeypatch, 16)
    assert wire.read_line(limit=400) == line
    assert wire.read_line() == b"+OK next"
    wire = make_wire([line + b"\r\n"], monkeypatch, 16)
    with pytest.raises(ReplyTooLarge):
        wire.read_line(limit=200)


def test_a_short_read_never_takes_more_than_the_line_may_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before STLS only the reply is read: what follows (the TLS handshake) stays unread."""
    monkeypatch.setattr(wire_module, "_BUFFER_SIZE", 1 << 20)
    sock = ScriptedSocket([b"+OK go\r\nHANDSHAKE"])
    wire = Pop3Wire(sock, "scripted", 110, 5)  # type: ignore[arg-type]
    assert wire.read_line(limit=6) == b"+OK go"
    assert wire.discard_buffered() == 0
    assert sock._rest == b"HANDSHAKE"


def read_traced(wire: Pop3Wire) -> tuple[bytes, int]:
    """One multi-line reply read, and the most Python memory allocated at once meanwhile."""
    tracemalloc.start()
    try:
        got = wire.read_multiline()
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_body_is_held_once_not_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 8 MB body read through a 1 MiB buffer: at the peak little more than the body itself
    is allocated (pieces joined at the end would hold it twice)."""
    line = b"y" * 78 + b"\r\n"
    body = line * (8 * 1024 * 1024 // len(line))
    wire = make_wire(chunked(body + b".\r\n", [256 * 1024] * 40), monkeypatch)
    got, peak = read_traced(wire)
    assert got == body
    assert peak < 1.3 * len(body), peak


@pytest.mark.parametrize("buffer", range(16, 41))
def test_stuffed_lines_on_every_settled_edge(buffer: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long body of dot lines (its first line too) settled piece by piece: wherever a piece
    ends, a stuffed line start (CRLF..) is un-stuffed once, and the first line's dot too."""
    lines = [[b"...\r\n", b".\r\n", b"..\r\n", b"x\r\n", b".y.\r\n"][i % 5] for i in range(60)]
    stream = stuffed(lines)
    for read in range(1, 8):
        wire = make_wire(chunked(stream + NEXT, [read] * len(stream)), monkeypatch, buffer)
        assert wire.read_multiline() == b"".join(lines) == reference_body(stream), read
        assert wire.read_line() == b"+OK next"


def test_a_large_stuffed_body_is_held_once_not_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Un-stuffed piece by piece as it is settled: no second (or third) copy at the end."""
    lines = [b"..dotted line\r\n" if i % 100 == 0 else b"z" * 78 + b"\r\n" for i in range(100_000)]
    stream = stuffed(lines)
    wire = make_wire(chunked(stream, [256 * 1024] * 40), monkeypatch)
    got, peak = read_traced(wire)
    assert got == b"".join(lines)
    assert peak < 1.3 * len(got), peak


SCANNED = st.lists(st.sampled_from([b"\r", b"\n", b".", b"a", b"\r\n", b"\r\n."]), max_size=40)


@settings(max_examples=600, deadline=None)
@given(SCANNED, st.integers(0, 60), st.integers(0, 60), st.sampled_from([1, 2, 3, 64]))
def test_the_dot_scans_find_what_the_expressions_find(
    pieces: list[bytes], start: int, end: int, dots_before_re: int
) -> None:
    """`_dot_line` and `_end_marker` look at dots instead of every byte, and hand over to the
    expressions past a number of dots: the same answer either way, for any bytes and bounds."""
    buf = bytearray(b"".join(pieces))
    end = min(end, len(buf))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(wire_module, "_DOTS_BEFORE_RE", dots_before_re)
        line = wire_module._DOT_LINE.search(buf, start, end)
        assert wire_module._dot_line(buf, start, end) == (line.start() if line else -1)
        marker = wire_module._END_MARKER.search(buf, start, end)
        assert wire_module._end_marker(buf, start, end) == (marker.start() if marker else -1)


@settings(max_examples=200, deadline=None)
@given(LINES, st.lists(st.integers(1, 40), max_size=8), st.sampled_from([16, 19, 1 << 20]))
def test_stuffed_bodies_read_back_when_the_scans_hand_over_at_once(
    lines: list[bytes], sizes: list[int], buffer: int
) -> None:
    stream = stuffed(lines)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(wire_module, "_DOTS_BEFORE_RE", 1)
        wire = make_wire(chunked(stream + NEXT, sizes), monkeypatch, buffer)
        assert wire.read_multiline() == b"".join(lines) == reference_body(stream)
        assert wire.read_line() == b"+OK next"


@pytest.mark.parametrize(
    "line", [b"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p\r\n", b"..\r\n", b"...\r\n", b"....:.\r\n"]
)
def test_a_body_dense_with_dots_reads_back_whole(
    line: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dots in every line, or every line dot-stuffed (a hostile server's choice): two MiB of them
    through the default buffer, in 1,000-byte reads, read back exactly."""
    lines = [line] * (2 * 1024 * 1024 // len(line))
    stream = stuffed(lines)
    wire = make_wire(chunked(stream + NEXT, [1000] * (len(stream) // 1000 + 2)), monkeypatch)
    assert wire.read_multiline() == b"".join(lines)
    assert wire.read_line() == b"+OK next"


class ScriptedTlsSocket(ScriptedSocket):
    """A TLS socket as the reader sees it: one record per read (a chunk here); `None` in the
    script is a moment with nothing arrived (a read without waiting raises SSLWantReadError);
    after the script, end of stream or, with `failure`, that error."""

    def __init__(self, records: list[bytes | None], failure: OSError | None = None) -> None:
        super().__init__([])
        self._records = list(records)
        self._failure = failure
        self.timeout: float | None = 5.0
        self.waited_reads = 0
        """Reads that would have waited (the timeout not 0): one per `_fill` at most."""

    def pending(self) -> int:
        return 0

    def settimeout(self, value: float | None) -> None:
        self.timeout = value

    def gettimeout(self) -> float | None:
        return self.timeout

    def recv_into(self, buffer: memoryview, nbytes: int = 0) -> int:
        import ssl

        if self.timeout != 0.0:
            self.waited_reads += 1
            while self._records and self._records[0] is None:
                self._records.pop(0)  # a blocking read waits for the next record
        if not self._rest:
            if not self._records:
                if self._failure is not None:
                    raise self._failure
                return 0
            record = self._records.pop(0)
            if record is None:
                raise ssl.SSLWantReadError("The operation did not complete (read)")
            self._rest = record
        count = min(len(self._rest), nbytes or len(buffer), len(buffer))
        buffer[:count] = self._rest[:count]
        self._rest = self._rest[count:]
        return count


def _records(data: bytes, size: int, pause_every: int) -> list[bytes | None]:
    records: list[bytes | None] = []
    for n, at in enumerate(range(0, len(data), size)):
        if pause_every and n and n % pause_every == 0:
            records.append(None)
        records.append(data[at : at + size])
    return records


@pytest.mark.parametrize("pause_every", [0, 1, 3])
@pytest.mark.parametrize("size", [1, 7, 4096])
def test_tls_records_that_have_arrived_are_read_in_one_turn(
    size: int, pause_every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelined replies in records of every size, with moments of nothing between them: read
    back exactly, the socket's timeout restored, and far fewer waiting reads than records."""
    replies = [stuffed([b"%s%d\r\n" % (b"." * (i % 3), j) for j in range(40)]) for i in range(30)]
    data = b"".join(b"+OK\r\n" + reply for reply in replies) + NEXT
    records = _records(data, size, pause_every)
    sock = ScriptedTlsSocket(records)
    monkeypatch.setattr(wire_module, "_BUFFER_SIZE", 1 << 20)
    wire = Pop3Wire(sock, "scripted", 995, 5)  # type: ignore[arg-type]
    for reply in replies:
        assert wire.read_line() == b"+OK"
        assert wire.read_multiline() == reference_body(reply)
    assert wire.read_line() == b"+OK next"
    assert sock.timeout == 5
    arrived_together = len(records) // (pause_every + 1) if pause_every else len(records)
    assert sock.waited_reads <= len(records) - arrived_together + 2


def test_a_tls_failure_between_records_is_worded_and_ends_the_stream() -> None:
    """A reset while records are being taken without waiting: the same words as any read."""
    body = stuffed([b"line %d\r\n" % i for i in range(50)])
    records = _records(b"+OK\r\n" + body, 64, 0)
    sock = ScriptedTlsSocket(records, failure=ConnectionResetError(104, "Connection reset by peer"))
    wire = Pop3Wire(sock, "scripted", 995, 5)  # type: ignore[arg-type]
    assert wire.read_line() == b"+OK"
    assert wire.read_multiline() == reference_body(body)
    with pytest.raises(ConnectionLost, match="was lost: connection reset by peer"):
        wire.read_line()
    assert wire.broken and sock.timeout == 5


def test_a_tls_end_of_stream_between_records_is_the_next_reads_to_say() -> None:
    sock = ScriptedTlsSocket([b"+OK fi", b"rst\r\n", b"+OK sec"])
    wire = Pop3Wire(sock, "scripted", 995, 5)  # type: ignore[arg-type]
    assert wire.read_line() == b"+OK first"
    with pytest.raises(ConnectionLost, match="closed the connection in the middle"):
        wire.read_line()
