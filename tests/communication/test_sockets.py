"""The sockets page's claims: echo over TCP and UDP, the handshake, TIME_WAIT, framing.

Oracles: the kernel itself (what `connect`, `bind` and /proc/net/tcp report), and
`asyncio.StreamReader`, whose `readexactly` and `readuntil` read the same framed streams
as our decoders. Hypothesis cuts generated streams at arbitrary byte boundaries.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.communication import sockets
from snippets.communication.sockets import (
    DelimiterDecoder,
    FrameError,
    FrameTooLarge,
    IncompleteFrame,
    LengthPrefixDecoder,
    encode_delimited,
    encode_length_prefixed,
)
from tests.helpers import TIMEOUT

EXAMPLES = settings(max_examples=150)

# ---------------------------------------------------------------------------------------
# Generated streams and the ways a network can cut them

messages = st.lists(st.binary(max_size=40), max_size=8)
delimiters = st.sampled_from([b"\n", b"\r\n", b"\x00\xff\x00"])


def encodable(lines: list[bytes], delimiter: bytes = b"\n") -> list[bytes]:
    """Keep the lines that delimiter framing can carry as they are."""
    return [m for m in lines if (m + delimiter).find(delimiter) == len(m)]


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    """Split `stream` at the given offsets (any order, repeats allowed)."""
    edges = sorted({0, len(stream), *(p % (len(stream) + 1) for p in points)})
    return [stream[a:b] for a, b in itertools.pairwise(edges)]


def decode_chunks(decoder: sockets.Decoder, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    decoder.close()
    return out


def frame_ends(frames: list[bytes]) -> set[int]:
    """Offsets in the joined stream where a frame ends (0 included)."""
    ends, position = {0}, 0
    for frame in frames:
        position += len(frame)
        ends.add(position)
    return ends


# ---------------------------------------------------------------------------------------
# Framing: split anywhere, same messages


@EXAMPLES
@given(messages=messages, points=st.lists(st.integers(min_value=0), max_size=30))
def test_length_prefixed_stream_split_anywhere_yields_the_same_messages(
    messages: list[bytes], points: list[int]
) -> None:
    stream = b"".join(encode_length_prefixed(m) for m in messages)
    assert decode_chunks(LengthPrefixDecoder(), cut(stream, points)) == messages


@EXAMPLES
@given(lines=messages, delimiter=delimiters, data=st.data())
def test_delimited_stream_split_anywhere_yields_the_same_messages(
    lines: list[bytes], delimiter: bytes, data: st.DataObject
) -> None:
    lines = encodable(lines, delimiter)
    stream = b"".join(encode_delimited(m, delimiter) for m in lines)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=30))
    assert decode_chunks(DelimiterDecoder(delimiter), cut(stream, points)) == lines


@EXAMPLES
@given(messages=messages)
def test_both_framings_survive_a_stream_fed_one_byte_at_a_time(
    messages: list[bytes],
) -> None:
    prefixed = b"".join(encode_length_prefixed(m) for m in messages)
    one_byte = [prefixed[i : i + 1] for i in range(len(prefixed))]
    assert decode_chunks(LengthPrefixDecoder(), one_byte) == messages
    lines = encodable(messages, b"\r\n")
    lined = b"".join(encode_delimited(m, b"\r\n") for m in lines)
    one_byte = [lined[i : i + 1] for i in range(len(lined))]
    assert decode_chunks(DelimiterDecoder(b"\r\n"), one_byte) == lines


@EXAMPLES
@given(lines=messages, delimiter=delimiters)
def test_a_message_that_would_hide_the_delimiter_cannot_be_encoded(
    lines: list[bytes], delimiter: bytes
) -> None:
    for line in lines:
        if line in encodable([line], delimiter):
            assert encode_delimited(line, delimiter).endswith(delimiter)
        else:
            with pytest.raises(FrameError, match="contains the delimiter"):
                encode_delimited(line, delimiter)


@EXAMPLES
@given(messages=messages, data=st.data())
def test_a_stream_cut_inside_a_frame_raises_incomplete_frame(
    messages: list[bytes], data: st.DataObject
) -> None:
    frames = [encode_length_prefixed(m) for m in messages]
    stream = b"".join(frames)
    end = data.draw(st.integers(0, len(stream)))
    decoder = LengthPrefixDecoder()
    decoded = decoder.feed(stream[:end])
    if end in frame_ends(frames):
        decoder.close()  # a clean end: every message so far came out
        assert decoded == messages[: len(decoded)]
        assert sum(len(f) for f in frames[: len(decoded)]) == end
    else:
        with pytest.raises(IncompleteFrame):
            decoder.close()


@EXAMPLES
@given(lines=messages, data=st.data())
def test_a_line_stream_cut_before_its_last_delimiter_raises_incomplete_frame(
    lines: list[bytes], data: st.DataObject
) -> None:
    frames = [encode_delimited(m) for m in encodable(lines)]
    stream = b"".join(frames)
    end = data.draw(st.integers(0, len(stream)))
    decoder = DelimiterDecoder()
    decoder.feed(stream[:end])
    if end in frame_ends(frames):
        decoder.close()
    else:
        with pytest.raises(IncompleteFrame):
            decoder.close()


# ---------------------------------------------------------------------------------------
# Oracle: asyncio.StreamReader reads the same framed streams


def read_with_asyncio(chunks: list[bytes], read_one) -> list[bytes]:
    async def main() -> list[bytes]:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        out = []
        while not reader.at_eof():
            out.append(await read_one(reader))
        return out

    return asyncio.run(main())


@settings(max_examples=50)
@given(messages=messages, points=st.lists(st.integers(min_value=0), max_size=10))
def test_asyncio_stream_reader_reads_our_length_prefixed_stream_the_same(
    messages: list[bytes], points: list[int]
) -> None:
    async def read_one(reader: asyncio.StreamReader) -> bytes:
        (length,) = sockets.HEADER.unpack(await reader.readexactly(4))
        return await reader.readexactly(length)

    chunks = cut(b"".join(encode_length_prefixed(m) for m in messages), points)
    assert read_with_asyncio(chunks, read_one) == messages
    assert decode_chunks(LengthPrefixDecoder(), chunks) == messages


@settings(max_examples=50)
@given(lines=messages, points=st.lists(st.integers(min_value=0), max_size=10))
def test_asyncio_stream_reader_reads_our_delimited_stream_the_same(
    lines: list[bytes], points: list[int]
) -> None:
    lines = encodable(lines)

    async def read_one(reader: asyncio.StreamReader) -> bytes:
        return (await reader.readuntil(b"\n"))[:-1]

    chunks = cut(b"".join(encode_delimited(m) for m in lines), points)
    assert read_with_asyncio(chunks, read_one) == lines
    assert decode_chunks(DelimiterDecoder(), chunks) == lines


def test_asyncio_and_our_decoder_both_refuse_a_stream_cut_mid_frame() -> None:
    stream = encode_length_prefixed(b"hello")[:-2]

    async def read_from_asyncio() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(stream)
        reader.feed_eof()
        (length,) = sockets.HEADER.unpack(await reader.readexactly(4))
        return await reader.readexactly(length)

    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(read_from_asyncio())
    with pytest.raises(IncompleteFrame, match="stream ended 7 bytes into a frame"):
        decode_chunks(LengthPrefixDecoder(), [stream])


# ---------------------------------------------------------------------------------------
# Limits and typed errors


def test_an_oversize_length_header_is_refused_before_its_payload_arrives() -> None:
    decoder = LengthPrefixDecoder(max_size=10)
    assert decoder.feed(b"\x00\x00") == []  # half a header: nothing to check yet
    with pytest.raises(FrameTooLarge, match="announces 11 bytes > 10"):
        decoder.feed(b"\x00\x0b")


def test_a_message_of_exactly_max_size_passes_and_one_more_byte_does_not() -> None:
    assert decode_chunks(
        LengthPrefixDecoder(max_size=3), [encode_length_prefixed(b"abc", 3)]
    ) == [b"abc"]
    with pytest.raises(FrameTooLarge):
        encode_length_prefixed(b"abcd", max_size=3)
    assert decode_chunks(DelimiterDecoder(max_size=3), [b"abc\n"]) == [b"abc"]
    with pytest.raises(FrameTooLarge):
        DelimiterDecoder(max_size=3).feed(b"abcd\n")
    with pytest.raises(FrameTooLarge):
        encode_delimited(b"abcd", max_size=3)


def test_a_line_without_delimiter_is_refused_once_it_exceeds_the_limit() -> None:
    decoder = DelimiterDecoder(b"\r\n", max_size=4)
    assert decoder.feed(b"abcd\r") == []  # could still end with "\n": keep it
    with pytest.raises(FrameTooLarge, match="no delimiter in 6 bytes"):
        decoder.feed(b"e")


def test_memory_stays_bounded_when_a_peer_never_sends_a_delimiter() -> None:
    decoder = DelimiterDecoder(max_size=1000)
    for _ in range(1000):
        assert decoder.feed(b"x") == []  # a 1000-byte line may still end here
    with pytest.raises(FrameTooLarge, match="no delimiter in 1001 bytes"):
        decoder.feed(b"x")


def test_a_message_containing_the_delimiter_cannot_be_encoded() -> None:
    with pytest.raises(FrameError, match="contains the delimiter"):
        encode_delimited(b"two\nlines")
    with pytest.raises(FrameError, match="contains the delimiter"):
        encode_delimited(b"ends in \x00\xff", b"\x00\xff\x00")  # across the join


def test_an_empty_delimiter_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        DelimiterDecoder(b"")


def test_the_framing_errors_are_value_errors_with_distinct_types() -> None:
    assert issubclass(FrameTooLarge, FrameError)
    assert issubclass(IncompleteFrame, FrameError)
    assert issubclass(FrameError, ValueError)
    assert not issubclass(IncompleteFrame, FrameTooLarge)


def test_the_page_example_of_partial_reads() -> None:
    decoder = LengthPrefixDecoder()
    stream = encode_length_prefixed(b"hello") + encode_length_prefixed(b"world")
    assert decoder.feed(stream[:7]) == []
    assert decoder.feed(stream[7:11]) == [b"hello"]
    assert decoder.feed(stream[11:]) == [b"world"]
    decoder.close()


# ---------------------------------------------------------------------------------------
# Real sockets


@pytest.fixture
def connected_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A TCP connection on loopback: (client side, server side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        with socket.create_connection(
            listener.getsockname(), timeout=TIMEOUT
        ) as client:
            server, _ = listener.accept()
            server.settimeout(5)
            with server:
                yield client, server


def test_tcp_echo_returns_every_byte_after_a_half_close() -> None:
    payload = bytes(range(256)) * 400  # 100 KiB: more than one recv() worth
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        thread = threading.Thread(target=sockets.serve_tcp_echo, args=(listener,))
        thread.start()
        try:
            assert sockets.tcp_echo(listener.getsockname(), payload) == payload
        finally:
            thread.join(5)
        assert not thread.is_alive()  # the server saw our FIN and returned


def test_udp_echo_keeps_each_datagram_whole() -> None:
    datagrams = [b"one", b"", b"x" * 1200, b"three"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(5)
        thread = threading.Thread(
            target=sockets.serve_udp_echo, args=(udp, len(datagrams))
        )
        thread.start()
        try:
            assert sockets.udp_echo(udp.getsockname(), datagrams) == datagrams
        finally:
            thread.join(5)


def test_udp_waits_only_until_its_timeout_when_no_answer_comes(monkeypatch) -> None:
    monkeypatch.setattr(sockets, "TIMEOUT", 0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, but nobody answers
        with pytest.raises(TimeoutError):
            sockets.udp_echo(silent.getsockname(), [b"anyone?"])


def test_connect_completes_and_data_is_queued_before_accept_is_called() -> None:
    assert sockets.data_sent_before_accept() == b"sent before accept"


def test_the_kernel_finishes_the_handshake_for_a_listener_that_never_accepts() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=1) as listener:
        address = listener.getsockname()
        with socket.create_connection(address, timeout=TIMEOUT) as client:
            assert client.getpeername() == address


def test_the_side_that_closes_first_holds_its_port_until_reuseaddr() -> None:
    assert sockets.rebind_after_server_closes_first(reuse_address=False) == "EADDRINUSE"
    assert sockets.rebind_after_server_closes_first(reuse_address=True) == "bound"


def tcp_states(port: int) -> set[str]:
    """States of the IPv4 TCP sockets whose local port is `port` (Linux /proc)."""
    states = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            states.add(fields[3])
    return states


@pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's /proc/net/tcp")
def test_the_kernel_lists_the_server_side_in_time_wait_after_it_closes_first() -> None:
    time_wait = "06"  # TCP_TIME_WAIT in include/net/tcp_states.h
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            conn, _ = listener.accept()
            conn.close()  # active close on the server side
            assert client.recv(1) == b""
    # The client's FIN may still be in flight: poll the kernel's table, 5 s at most.
    deadline = time.monotonic() + 5
    while time_wait not in tcp_states(port) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert time_wait in tcp_states(port)


def test_three_sends_arrive_as_one_ordered_stream_without_boundaries() -> None:
    chunks = sockets.three_sends_one_stream()
    assert b"".join(chunks) == b"onetwothree"
    assert 1 <= len(chunks) <= 3  # how they are cut is up to TCP, not to the sender


def test_recv_until_eof_refuses_a_peer_that_sends_too_much(connected_pair) -> None:
    client, server = connected_pair
    client.sendall(b"x" * 5000)
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(FrameTooLarge, match="more than 4096 bytes"):
        sockets.recv_until_eof(server, max_bytes=4096)


@pytest.mark.parametrize(
    ("encode", "decoder"),
    [
        (encode_length_prefixed, LengthPrefixDecoder),
        (lambda m: encode_delimited(m, b"\r\n"), lambda: DelimiterDecoder(b"\r\n")),
    ],
    ids=["length-prefix", "delimiter"],
)
@pytest.mark.parametrize("bufsize", [1, 3, 4096])
def test_messages_sent_one_byte_per_write_arrive_whole(
    encode, decoder, bufsize: int
) -> None:
    messages = [b"alpha", b"", b"gamma" * 100, bytes(range(10, 200))]
    stream = b"".join(encode(m) for m in messages)
    assert sockets.tiny_pieces_round_trip(stream, decoder(), bufsize) == messages


def test_a_peer_that_closes_mid_frame_raises_incomplete_frame(connected_pair) -> None:
    client, server = connected_pair
    client.sendall(encode_length_prefixed(b"complete") + b"\x00\x00\x00\x09half")
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(IncompleteFrame):
        sockets.receive_messages(server, LengthPrefixDecoder(), bufsize=2)


def test_a_flood_of_tiny_messages_is_cut_off(connected_pair) -> None:
    client, server = connected_pair
    client.sendall(b"\n" * 50)
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(FrameTooLarge, match="more than 10 messages"):
        sockets.receive_messages(server, DelimiterDecoder(), max_messages=10)
