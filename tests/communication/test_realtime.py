"""The real-time page's claims: polling costs, the SSE format, WebSockets per RFC 6455.

Oracles: the `websockets` library (version 17) as a client of our WebSocket server and as
a server for our client; the examples of RFC 6455 (sections 1.3 and 5.7) and of the
WHATWG HTML standard (section 9.2.6); `http.client` for the HTTP endpoints.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import socket
import statistics
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import websockets.sync.client
import websockets.sync.server
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from snippets.communication import realtime as rt
from tests.helpers import TIMEOUT, run_demo

# ---------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def server() -> Iterator[rt.RealtimeServer]:
    with rt.RealtimeServer(rt.Feed(), hold=2.0) as server:
        yield server


def address(server: rt.RealtimeServer) -> tuple[str, int]:
    return server.server_address[:2]


def ws_url(server: rt.RealtimeServer) -> str:
    host, port = address(server)
    return f"ws://{host}:{port}/ws"


def get(
    server: rt.RealtimeServer, path: str, **headers: str
) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection(*address(server), timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def parse_all(stream: bytes, cuts: list[int] | None = None) -> list[rt.Event]:
    """Feed `stream` to a new parser, split at the given positions."""
    parser, events, start = rt.EventStreamParser(), [], 0
    for cut in [*sorted(cuts or []), len(stream)]:
        events += parser.feed(stream[start:cut])
        start = cut
    return events


# ---------------------------------------------------------------------------------------
# The feed, polling and long polling


def test_feed_numbers_messages_and_answers_only_newer_ones() -> None:
    feed = rt.Feed()
    assert [feed.publish(t) for t in ("a", "b", "c")] == [1, 2, 3]
    assert feed.after(1) == [(2, "b"), (3, "c")]
    assert feed.after(3) == []


def test_a_waiting_reader_wakes_when_a_message_is_published() -> None:
    feed, got = rt.Feed(), []
    reader = threading.Thread(target=lambda: got.append(feed.wait_after(0, 5)))
    reader.start()
    feed.publish("news")
    reader.join(timeout=TIMEOUT)
    assert got == [[(1, "news")]]


def test_a_closed_feed_releases_waiters_at_once() -> None:
    feed = rt.Feed()
    feed.close()
    assert feed.closed
    assert feed.wait_after(0, timeout=60) == []  # would hang a minute if not released


def test_poll_answers_at_once_and_long_poll_times_out_empty(
    server: rt.RealtimeServer,
) -> None:
    server.hold = 0.05
    assert get(server, "/poll?after=0")[2] == b"[]"
    assert get(server, "/long-poll?after=0")[2] == b"[]"
    server.feed.publish("hi")
    status, headers, body = get(server, "/long-poll?after=0")
    assert (status, headers["Content-Type"], json.loads(body)) == (
        200,
        "application/json",
        [[1, "hi"]],
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/poll?after=-1", 400),
        ("/poll?after=abc", 400),
        ("/poll?after=" + "9" * 40, 400),
        ("/nowhere", 404),
    ],
)
def test_bad_requests_get_a_4xx(
    server: rt.RealtimeServer, path: str, status: int
) -> None:
    assert get(server, path)[0] == status


def test_long_polling_delivers_sooner_with_fewer_requests_than_polling(
    server: rt.RealtimeServer,
) -> None:
    """The page's claim, measured: ratios in the same run, with wide margins.

    The poll period (0.13 s) is out of step with the publisher's (0.1 s), so the
    four delays sample different phases. At 0.1 s all four shared one phase,
    which could be a few milliseconds by chance: CI failed once on a ratio of 1.5.
    """
    polling = rt.measure(address(server), "/poll", server.feed, pause=0.13)
    long_polling = rt.measure(address(server), "/long-poll", server.feed, pause=0)
    assert len(polling.delays) == len(long_polling.delays) == 4
    assert polling.empty > 0
    assert long_polling.empty == 0
    assert polling.requests > long_polling.requests
    # Typically about 65 ms against 1 ms here; asserted with a wide margin.
    ratio = statistics.mean(polling.delays) / statistics.mean(long_polling.delays)
    assert ratio > 2


# ---------------------------------------------------------------------------------------
# Server-sent events: the format


def test_format_event_writes_one_data_line_per_line_of_data() -> None:
    assert rt.format_event("a\r\nb\rc\nd", event="e", event_id="1") == (
        b"event: e\nid: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    )
    assert rt.format_event("") == b"data: \n\n"


@pytest.mark.parametrize(
    "kwargs",
    [{"event": "a\nb"}, {"event_id": "1\r2"}, {"event_id": "nul\0"}],
)
def test_format_event_refuses_fields_that_would_break_the_framing(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"id|line breaks"):
        rt.format_event("data", **kwargs)


def test_the_whatwg_example_with_ids_gives_two_events_and_drops_the_unfinished_one() -> (
    None
):
    stream = (
        b": test stream\n\ndata: first event\nid: 1\n\n"
        b"data:second event\nid\n\n data:  third event\n"
    )
    events = parse_all(stream)
    assert events == [rt.Event("first event", "message", "1"), rt.Event("second event")]


def test_the_whatwg_example_of_empty_data_lines() -> None:
    events = parse_all(b"data\n\ndata\ndata\n\ndata:")
    assert [e.data for e in events] == ["", "\n"]


def test_one_space_after_the_colon_is_dropped_and_no_more() -> None:
    events = parse_all(b"data:test\n\ndata: test\n\ndata:  test\n\n")
    assert [e.data for e in events] == ["test", "test", " test"]


def test_retry_must_be_ascii_digits_and_ids_must_not_contain_null() -> None:
    parser = rt.EventStreamParser()
    parser.feed(b"retry: 0300\nretry: 12a\nretry: \xc2\xb2\nid: 5\nid: x\x00y\n\n")
    assert parser.retry == 300
    assert parser.last_event_id == "5"


def test_the_last_event_id_is_kept_across_events_and_set_even_without_data() -> None:
    parser = rt.EventStreamParser()
    events = parser.feed(b"id: 3\ndata: a\n\ndata: b\n\nid: 9\n\n")
    assert [(e.data, e.last_event_id) for e in events] == [("a", "3"), ("b", "3")]
    assert parser.last_event_id == "9"  # a blank line copied it, no event fired


def test_only_one_leading_byte_order_mark_is_skipped() -> None:
    bom = "\ufeff".encode()
    assert parse_all(bom + b"data: x\n\n") == [rt.Event("x")]
    # A second BOM is part of the field name "\ufeffdata": an unknown field, ignored.
    assert parse_all(bom + bom + b"data: x\n\n") == []


def test_a_character_split_across_chunks_is_decoded_whole() -> None:
    stream = "data: é€😀\n\n".encode()
    assert parse_all(stream, cuts=list(range(1, len(stream)))) == [rt.Event("é€😀")]


def test_invalid_utf8_becomes_the_replacement_character() -> None:
    assert parse_all(b"data: \xff\n\n") == [rt.Event("\ufffd")]


def test_a_line_over_the_limit_is_refused() -> None:
    parser = rt.EventStreamParser(max_line=100)
    with pytest.raises(rt.EventStreamError, match="line over 100"):
        parser.feed(b"data: " + b"x" * 200)


def test_event_data_over_the_limit_is_refused() -> None:
    parser = rt.EventStreamParser(max_data=10)
    with pytest.raises(rt.EventStreamError, match="over 10 characters"):
        parser.feed(b"data: 123456\ndata: 123456\n")


# Arbitrary events: data may hold any character, including CR and LF; event types and
# ids may not hold CR, LF, or (for ids) NULL. An empty event type means "message".
event_types = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=10
)
event_ids = st.none() | st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=5
)
events_strategy = st.lists(
    st.tuples(st.text(max_size=40), event_types, event_ids), max_size=5
)


def expected(specs: list[tuple[str, str, str | None]]) -> list[rt.Event]:
    out, last_id = [], ""
    for data, kind, event_id in specs:
        last_id = last_id if event_id is None else event_id
        out.append(rt.Event(rt.LINE_BREAK.sub("\n", data), kind or "message", last_id))
    return out


@settings(max_examples=150)
@given(specs=events_strategy, data=st.data())
def test_our_parser_reads_what_our_producer_writes_split_anywhere(
    specs: list[tuple[str, str, str | None]], data: st.DataObject
) -> None:
    stream = b"".join(rt.format_event(d, e, i) for d, e, i in specs)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    assert parse_all(stream, cuts) == expected(specs)


@settings(max_examples=100)
@given(specs=events_strategy, data=st.data())
def test_cr_lf_and_crlf_line_endings_parse_the_same(
    specs: list[tuple[str, str, str | None]], data: st.DataObject
) -> None:
    lines = b"".join(rt.format_event(d, e, i) for d, e, i in specs).split(b"\n")
    pick = st.sampled_from([b"\r", b"\n", b"\r\n"])
    endings = data.draw(st.lists(pick, min_size=len(lines), max_size=len(lines)))
    for n in range(1, len(endings)):  # "\r" then "\n" would be one "\r\n" ending
        if endings[n - 1] == b"\r" and endings[n] == b"\n":
            endings[n] = b"\r"
    stream = b"".join(
        line + end for line, end in zip(lines[:-1], endings, strict=False)
    )
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    assert parse_all(stream, cuts) == expected(specs)


@settings(max_examples=100)
@given(chunks=st.lists(st.binary(max_size=50), max_size=10))
def test_arbitrary_bytes_never_crash_the_parser(chunks: list[bytes]) -> None:
    parser = rt.EventStreamParser(max_line=64, max_data=64)
    try:
        for chunk in chunks:
            for event in parser.feed(chunk):
                assert isinstance(event.data, str)
    except rt.EventStreamError:
        pass


# ---------------------------------------------------------------------------------------
# Server-sent events: the endpoint


def test_the_event_stream_is_text_event_stream_and_not_cached(
    server: rt.RealtimeServer,
) -> None:
    server.feed.publish("x")
    connection = http.client.HTTPConnection(*address(server), timeout=TIMEOUT)
    try:
        connection.request("GET", "/events")
        response = connection.getresponse()
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("Cache-Control") == "no-store"
        assert response.read1(4096).startswith(b": welcome\nretry: 1000\n\n")
    finally:
        connection.close()


def test_read_events_resumes_after_the_last_event_id(server: rt.RealtimeServer) -> None:
    server.heartbeat, server.stream_for = 0.02, 0.3  # the last read ends early
    for text in ("one", "two\nlines", "three"):
        server.feed.publish(text)
    first = rt.read_events(address(server), 2)
    assert [(e.last_event_id, e.data) for e in first] == [
        ("1", "one"),
        ("2", "two\nlines"),
    ]
    rest = rt.read_events(address(server), 5, last_event_id=first[-1].last_event_id)
    assert [e.data for e in rest] == ["three"]  # the stream ended before 5 arrived


def test_an_idle_stream_sends_keep_alive_comments_then_ends(
    server: rt.RealtimeServer,
) -> None:
    server.heartbeat, server.stream_for = 0.02, 0.2
    status, headers, body = get(server, "/events")
    assert status == 200
    assert headers["Connection"] == "close"
    assert b": keep-alive\n\n" in body
    assert parse_all(body) == []  # comments dispatch nothing


def test_a_new_event_reaches_a_waiting_stream(server: rt.RealtimeServer) -> None:
    server.heartbeat = 0.02
    got: list[list[rt.Event]] = []
    reader = threading.Thread(
        target=lambda: got.append(rt.read_events(address(server), 1))
    )
    reader.start()
    server.feed.publish("late news")
    reader.join(timeout=10)
    assert [e.data for e in got[0]] == ["late news"]


def test_a_bad_last_event_id_is_a_400(server: rt.RealtimeServer) -> None:
    assert get(server, "/events", **{"Last-Event-ID": "x1"})[0] == 400


# ---------------------------------------------------------------------------------------
# WebSocket: handshake and frames, against the RFC's own examples


def test_the_accept_key_of_rfc_6455_section_1_3() -> None:
    assert rt.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


RFC_EXAMPLES = [  # RFC 6455, section 5.7: (frame, mask key, bytes on the wire)
    (rt.Frame(rt.TEXT, b"Hello"), None, "81 05 48 65 6c 6c 6f"),
    (rt.Frame(rt.TEXT, b"Hello"), "37fa213d", "81 85 37 fa 21 3d 7f 9f 4d 51 58"),
    (rt.Frame(rt.TEXT, b"Hel", fin=False), None, "01 03 48 65 6c"),
    (rt.Frame(rt.CONTINUATION, b"lo"), None, "80 02 6c 6f"),
    (rt.Frame(rt.PING, b"Hello"), None, "89 05 48 65 6c 6c 6f"),
    (rt.Frame(rt.PONG, b"Hello"), "37fa213d", "8a 85 37 fa 21 3d 7f 9f 4d 51 58"),
]


@pytest.mark.parametrize(("frame", "key", "wire"), RFC_EXAMPLES)
def test_the_frames_of_rfc_6455_section_5_7_encode_and_decode(
    frame: rt.Frame, key: str | None, wire: str
) -> None:
    raw = bytes.fromhex(wire)
    assert rt.encode_frame(frame, bytes.fromhex(key) if key else None) == raw
    assert (
        rt.read_frame(io.BytesIO(raw).read, 125, from_client=key is not None) == frame
    )


@pytest.mark.parametrize(
    ("size", "header"),
    [(125, "82 7d"), (126, "82 7e 00 7e"), (256, "82 7e 01 00"),
     (65535, "82 7e ff ff"), (65536, "82 7f 00 00 00 00 00 01 00 00")],
)  # fmt: skip
def test_payload_lengths_use_7_16_or_64_bits(size: int, header: str) -> None:
    encoded = rt.encode_frame(rt.Frame(rt.BINARY, bytes(size)))
    assert encoded[: len(encoded) - size] == bytes.fromhex(header)


def chunked_reader(data: bytes, most: int):
    """A read function that returns at most `most` bytes a call, like a socket."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(min(n, most))


sizes = st.one_of(st.integers(0, 130), st.integers(65530, 65540))


@settings(max_examples=100)
@given(
    opcode=st.sampled_from([rt.TEXT, rt.BINARY, rt.CONTINUATION]),
    size=sizes,
    seed=st.integers(0, 2**32),
    fin=st.booleans(),
    masked=st.booleans(),
    most=st.sampled_from([1, 3, 4096, 1 << 17]),  # bytes a read returns at most
)
def test_data_frames_round_trip_through_encode_and_read(
    opcode: int, size: int, seed: int, fin: bool, masked: bool, most: int
) -> None:
    rng = random.Random(seed)
    frame = rt.Frame(opcode, rng.randbytes(size), fin)
    key = rng.randbytes(4) if masked else None
    wire = rt.encode_frame(frame, key)
    most = max(most, size // 64)  # short reads, but not 65536 of them
    assert (
        rt.read_frame(chunked_reader(wire, most), 1 << 17, from_client=masked) == frame
    )


@settings(max_examples=100)
@given(
    opcode=st.sampled_from([rt.CLOSE, rt.PING, rt.PONG]),
    payload=st.binary(max_size=125),
    key=st.none() | st.binary(min_size=4, max_size=4),
)
def test_control_frames_round_trip(
    opcode: int, payload: bytes, key: bytes | None
) -> None:
    wire = rt.encode_frame(rt.Frame(opcode, payload), key)
    frame = rt.read_frame(io.BytesIO(wire).read, 125, from_client=key is not None)
    assert frame == rt.Frame(opcode, payload)


@settings(max_examples=100)
@given(payload=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4))
def test_masking_twice_gives_the_payload_back(payload: bytes, key: bytes) -> None:
    masked = rt.mask(payload, key)
    assert len(masked) == len(payload)
    assert rt.mask(masked, key) == payload


@settings(max_examples=200)
@given(data=st.binary(max_size=40), from_client=st.booleans())
def test_arbitrary_bytes_give_a_frame_or_a_typed_error(
    data: bytes, from_client: bool
) -> None:
    try:
        frame = rt.read_frame(io.BytesIO(data).read, 1000, from_client)
    except (rt.ProtocolError, rt.ConnectionClosed):
        return
    assert frame.opcode in rt.OPCODES


@pytest.mark.parametrize(
    ("wire", "from_client", "error", "message"),
    [
        ("c1 00", False, rt.ProtocolError, "reserved bits"),
        ("83 00", False, rt.ProtocolError, "unknown opcode 0x3"),
        ("89 7e 00 7e", False, rt.ProtocolError, "control frame"),
        ("09 00", False, rt.ProtocolError, "control frame"),
        ("81 00", True, rt.ProtocolError, "must mask"),
        ("81 80 00 00 00 00", False, rt.ProtocolError, "must not"),
        ("82 7f 7f ff ff ff ff ff ff ff", False, rt.MessageTooBig, "over the limit"),
        ("82 7e 04 00", False, rt.MessageTooBig, "1024 bytes"),
        ("81 05 48 65", False, rt.ConnectionClosed, "after 2 of 5"),
        ("81", False, rt.ConnectionClosed, "after 1 of 2"),
    ],
)
def test_bad_frames_are_refused_with_a_typed_error(
    wire: str, from_client: bool, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        rt.read_frame(io.BytesIO(bytes.fromhex(wire)).read, 1000, from_client)


def test_an_oversized_frame_is_refused_before_its_payload_is_read() -> None:
    header_only = io.BytesIO(bytes.fromhex("82 7f 00 00 00 00 00 10 00 00"))
    with pytest.raises(rt.MessageTooBig):
        rt.read_frame(header_only.read, 65536, from_client=False)
    assert header_only.tell() == 10  # no payload byte was asked for


@pytest.mark.parametrize(
    ("payload", "result"),
    [(b"", (1005, "")), (b"\x03\xe8", (1000, "")), (b"\x03\xf1big", (1009, "big")),
     (b"\x0b\xb8", (3000, "")), (b"\x13\x87", (4999, ""))],
)  # fmt: skip
def test_close_payloads_parse_to_code_and_reason(payload: bytes, result: tuple) -> None:
    assert rt.parse_close(payload) == result
    if payload:
        assert rt.close_payload(*result) == payload


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_close_codes_that_may_not_be_sent_are_protocol_errors(code: int) -> None:
    with pytest.raises(rt.ProtocolError, match="invalid close payload"):
        rt.parse_close(code.to_bytes(2, "big"))


def test_a_one_byte_close_payload_and_a_bad_reason_are_refused() -> None:
    with pytest.raises(rt.ProtocolError):
        rt.parse_close(b"\x03")
    with pytest.raises(rt.InvalidData) as caught:
        rt.parse_close(b"\x03\xe8\xff")
    assert caught.value.code == 1007


def upgrade_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v}


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"Upgrade": ""}, 400),
        ({"Connection": "keep-alive"}, 400),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
        ({"Sec-WebSocket-Key": "not base64!"}, 400),
        ({"Sec-WebSocket-Version": "8"}, 426),
    ],
)
def test_bad_upgrade_requests_are_refused_with_a_status(
    server: rt.RealtimeServer, overrides: dict[str, str], status: int
) -> None:
    answer, headers, _ = get(server, "/ws", **upgrade_headers(**overrides))
    assert answer == status
    if status == 426:
        assert headers["Sec-WebSocket-Version"] == "13"


def test_tokens_are_matched_case_insensitively_in_lists() -> None:
    headers = http.client.HTTPMessage()
    headers["Connection"] = "keep-alive, UPGRADE"
    headers["Upgrade"] = "WebSocket"
    headers["Sec-WebSocket-Version"] = "13"
    headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    assert (
        rt.check_upgrade("GET", "HTTP/1.1", headers) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    )
    with pytest.raises(rt.HandshakeError, match=r"HTTP/1\.1 GET"):
        rt.check_upgrade("POST", "HTTP/1.1", headers)


# ---------------------------------------------------------------------------------------
# WebSocket: the `websockets` library against our server, and our client against it


def test_websockets_client_exchanges_text_and_binary_and_closes_with_1000(
    server: rt.RealtimeServer,
) -> None:
    """Oracle: a real WebSocket client talks to our server, close handshake included."""
    with websockets.sync.client.connect(
        ws_url(server), open_timeout=TIMEOUT, close_timeout=TIMEOUT
    ) as ws:
        for text in ("hello", "héllo wörld ✓", "x" * 200, "y" * 65536):  # at the limit
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01binary"
    assert ws.close_code == 1000  # the code our server echoed
    server.__exit__(None, None, None)  # join the session's thread
    assert server.closes == [1000]


def test_websockets_client_ping_is_answered_with_a_pong(
    server: rt.RealtimeServer,
) -> None:
    with websockets.sync.client.connect(ws_url(server), open_timeout=TIMEOUT) as ws:
        assert ws.ping(b"are you there?").wait(timeout=TIMEOUT)


def test_websockets_fragmented_message_is_reassembled(
    server: rt.RealtimeServer,
) -> None:
    with websockets.sync.client.connect(ws_url(server), open_timeout=TIMEOUT) as ws:
        ws.send(
            ["frag", "men", "ted"]
        )  # three frames: text, continuation, continuation
        assert ws.recv(timeout=TIMEOUT) == "fragmented"


def send_then_receive(ws: websockets.sync.client.ClientConnection, message) -> None:
    """Send, then wait for an answer; the server's close may already stop the send."""
    ws.send(message)
    ws.recv(timeout=TIMEOUT)


def test_a_message_over_the_limit_is_refused_with_close_code_1009(
    server: rt.RealtimeServer,
) -> None:
    with (
        websockets.sync.client.connect(ws_url(server), open_timeout=TIMEOUT) as ws,
        pytest.raises(ConnectionClosedError) as caught,
    ):
        send_then_receive(ws, "x" * 70_000)
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 1009
    assert "over the limit of 65536" in caught.value.rcvd.reason


def test_a_fragmented_message_over_the_limit_is_refused_with_1009(
    server: rt.RealtimeServer,
) -> None:
    server.max_message = 100
    with (
        websockets.sync.client.connect(ws_url(server), open_timeout=TIMEOUT) as ws,
        pytest.raises(ConnectionClosedError) as caught,
    ):
        send_then_receive(ws, ["x" * 60, "y" * 60])  # each frame fits, not the whole
    assert caught.value.rcvd.code == 1009


def test_a_message_in_too_many_frames_is_refused_with_1008(
    server: rt.RealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty fragments never reach the size limit: the frame count has its own."""
    monkeypatch.setattr(rt, "MAX_FRAGMENTS", 8, raising=False)
    with websockets.sync.client.connect(ws_url(server), open_timeout=TIMEOUT) as ws:
        # websockets sends each chunk in a frame, then an empty one with FIN set
        ws.send([""] * 6 + ["at the limit"])  # 8 frames: echoed
        assert ws.recv(timeout=TIMEOUT) == "at the limit"
        with pytest.raises(ConnectionClosedError) as caught:
            send_then_receive(ws, [""] * 8)  # 9 frames
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 1008
    assert caught.value.rcvd.reason == "a message in more than 8 frames"


def fragments(count: int) -> bytes:
    """A masked text message of `count` frames, all empty but the last."""
    key = b"abcd"
    first = rt.encode_frame(rt.Frame(rt.TEXT, b"", fin=False), key)
    empty = rt.encode_frame(rt.Frame(rt.CONTINUATION, b"", fin=False), key)
    return first + empty * (count - 2) + rt.encode_frame(rt.Frame(0, b"!"), key)


def reassembly_time(data: bytes) -> float:
    """The least CPU time of three that `receive_message` takes to reassemble `data`."""
    times = []
    for _ in range(3):
        start = time.thread_time()
        message = rt.receive_message(io.BytesIO(data).read, lambda _: None, 65536)
        times.append(time.thread_time() - start)
        assert message == rt.Frame(rt.TEXT, b"!")
    return min(times)


def test_reassembly_time_grows_linearly_with_the_number_of_fragments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twice the frames, about twice the time (a quadratic loop would take 4 times)."""
    monkeypatch.setattr(rt, "MAX_FRAGMENTS", 10**9, raising=False)  # time, not refuse
    small, large = reassembly_time(fragments(8000)), reassembly_time(fragments(16000))
    assert large / small < 3.0


def test_an_idle_connection_gets_a_close_frame_with_1001_before_tcp_closes(
    server: rt.RealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping TCP alone would show the client 1006, with no reason."""
    monkeypatch.setattr(rt.RealtimeHandler, "timeout", 0.5)
    with (
        websockets.sync.client.connect(ws_url(server), open_timeout=TIMEOUT) as ws,
        pytest.raises(ConnectionClosed) as caught,
    ):
        ws.recv(timeout=TIMEOUT)  # we send nothing: the server times us out
    assert caught.value.rcvd is not None
    assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (
        1001,
        "idle for too long",
    )
    server.__exit__(None, None, None)  # join the session's thread
    assert server.closes == [1001]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize(
    ("last", "key", "code"),
    [
        pytest.param(rt.Frame(rt.TEXT, b"no mask"), None, 1002, id="bad-frame"),
        pytest.param(rt.Frame(rt.CLOSE, b"\x03\xe8"), b"abcd", 1000, id="close"),
    ],
)
def test_a_client_that_resets_around_the_servers_close_frame_ends_it_quietly(
    server: rt.RealtimeServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    when: str,
    last: rt.Frame,
    key: bytes | None,
    code: int,
) -> None:
    """The client's last frame, then a reset just before or after our close frame.

    The connection is gone: there is nothing to answer, and nothing to print.
    """
    at_close, gone = threading.Event(), threading.Event()
    send = rt.WebSocketSession.send

    def send_at_the_worst_time(session: rt.WebSocketSession, frame: rt.Frame) -> None:
        if frame.opcode == rt.CLOSE and when == "before":
            at_close.set()
            gone.wait(5)
        send(session, frame)
        if frame.opcode == rt.CLOSE and when == "after":
            at_close.set()
            gone.wait(5)

    errors: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    monkeypatch.setattr(rt.WebSocketSession, "send", send_at_the_worst_time)
    client = raw_client(server)
    client.sock.sendall(rt.encode_frame(last, key))
    assert at_close.wait(5)
    linger_zero = struct.pack("ii", 1, 0)  # close() sends a reset, not a FIN
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
    client.reader.close()
    client.sock.close()
    gone.set()
    server.__exit__(None, None, None)  # join the session's thread
    assert capfd.readouterr().err == ""
    assert errors == []
    assert server.closes == [code]


def test_our_client_talks_to_a_websockets_server() -> None:
    """Oracle the other way: a real server checks our handshake and our masking."""

    def echo(connection: websockets.sync.server.ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with websockets.sync.server.serve(
        echo, "127.0.0.1", 0, compression=None
    ) as ws_server:
        thread = threading.Thread(target=ws_server.serve_forever)
        thread.start()
        try:
            client = rt.WebSocketClient(ws_server.socket.getsockname()[:2])
            client.send(rt.Frame(rt.TEXT, "héllo".encode()))
            assert client.receive() == rt.Frame(rt.TEXT, "héllo".encode())
            assert client.close(1000) == (1000, "")
        finally:
            ws_server.shutdown()
            thread.join(timeout=TIMEOUT)


def test_our_client_and_server_echo_and_close(server: rt.RealtimeServer) -> None:
    client = rt.WebSocketClient(address(server))
    client.send(rt.Frame(rt.PING, b"p"))
    assert client.receive() == rt.Frame(rt.PONG, b"p")
    client.send(rt.Frame(rt.PONG, b"unsolicited"))  # ignored, as RFC 6455 allows
    client.send(rt.Frame(rt.BINARY, b"\x00"))
    assert client.receive() == rt.Frame(rt.BINARY, b"\x00")
    assert client.close(4000) == (4000, "")  # an application code, echoed


def raw_client(server: rt.RealtimeServer) -> rt.WebSocketClient:
    return rt.WebSocketClient(address(server))


@pytest.mark.parametrize(
    ("frame", "key", "code"),
    [
        (rt.Frame(rt.TEXT, b"\xff\xfe"), b"abcd", 1007),  # not UTF-8
        (rt.Frame(rt.TEXT, b"no mask"), None, 1002),  # clients must mask
        (rt.Frame(rt.CONTINUATION, b"x"), b"abcd", 1002),  # nothing to continue
        (rt.Frame(rt.CLOSE, b"\x03\xed"), b"abcd", 1002),  # 1005 may not be sent
    ],
)
def test_protocol_errors_close_the_connection_with_the_right_code(
    server: rt.RealtimeServer, frame: rt.Frame, key: bytes | None, code: int
) -> None:
    client = raw_client(server)
    client.sock.sendall(rt.encode_frame(frame, key))
    reply = client.receive()
    assert reply.opcode == rt.CLOSE
    assert rt.parse_close(reply.payload)[0] == code
    client.close()


def test_a_text_fragment_interrupted_by_a_new_message_is_a_protocol_error(
    server: rt.RealtimeServer,
) -> None:
    client = raw_client(server)
    client.send(rt.Frame(rt.TEXT, b"a", fin=False))
    client.send(rt.Frame(rt.TEXT, b"b"))  # a new message before the first one ended
    assert client.receive() == rt.Frame(
        rt.CLOSE, rt.close_payload(1002, "a continuation frame must follow a fragment")
    )
    client.close()


def test_a_client_that_vanishes_mid_session_ends_it_quietly(
    server: rt.RealtimeServer,
) -> None:
    client = raw_client(server)
    client.send(rt.Frame(rt.TEXT, b"bye"))
    assert client.receive().payload == b"bye"
    client.reader.close()
    client.sock.close()  # no close frame: the TCP connection just ends
    server.__exit__(None, None, None)
    assert server.closes == [None]


def test_our_client_refuses_a_server_that_does_not_upgrade(
    server: rt.RealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(rt.ROUTES, "/ws")
    with pytest.raises(rt.HandshakeError, match="404"):
        rt.WebSocketClient(address(server))


# ---------------------------------------------------------------------------------------
# The demo


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.communication.realtime", check=True)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "True True"
    assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in lines
    assert "81 85 37 fa 21 3d 7f 9f 4d 51 58" in lines
    assert lines[-1] == "[1000, 1009]"
