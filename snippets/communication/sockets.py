"""Sockets, TCP and UDP: echo servers, the handshake you can see, and message
framing.

Read first: the journey page (`snippets/journey.py`), which opens one TCP
connection and reads an HTTP answer until the server closes it. This module goes
one layer down. It runs a TCP echo and a UDP echo on loopback, shows that the
kernel completes the three-way handshake before your program calls `accept()`,
shows that the side that closes first is left holding the port in TIME_WAIT, and
then builds what every protocol on top of TCP needs: framing. TCP delivers a
byte stream, not messages, so a receiver must handle partial reads. Two framings
are built with hard limits and typed errors: a 4-byte length prefix and a
delimiter.

What it leaves out: IPv6 (`::1` works the same way), non-blocking sockets and
event loops (the performance layer builds one), TCP options (window scaling,
SACK, keepalive probes), congestion control, and reliability on top of UDP
(retransmission, ordering), which QUIC does for real.

Run it: `python -m snippets.communication.sockets`.
"""

from __future__ import annotations

# --8<-- [start:tcp_echo]
import socket
import threading

TIMEOUT = 5.0  # seconds: every socket and every wait on this page has a limit
# the most bytes we accept from one peer before giving up
MAX_STREAM = 1024 * 1024


class FrameError(ValueError):
    """The peer sent bytes that cannot be read as messages."""


class FrameTooLarge(FrameError):
    """A message (or the whole stream) is larger than the receiver allows."""


class IncompleteFrame(FrameError):
    """The stream ended in the middle of a message."""


def serve_tcp_echo(listener: socket.socket) -> None:
    """Accept one connection and send back every byte it sends, until it
    closes."""
    conn, _ = listener.accept()  # the handshake is already done: see below
    with conn:  # leaving the block closes the socket: our FIN
        conn.settimeout(TIMEOUT)
        while data := conn.recv(4096):  # b"" means the peer sent its FIN
            conn.sendall(data)


def recv_until_eof(
    sock: socket.socket, max_bytes: int = MAX_STREAM
) -> list[bytes]:
    """Read until the peer closes; return the chunks exactly as `recv` returned
    them."""
    chunks: list[bytes] = []
    total = 0
    while chunk := sock.recv(4096):
        total += len(chunk)
        if total > max_bytes:
            raise FrameTooLarge(f"peer sent more than {max_bytes} bytes")
        chunks.append(chunk)
    return chunks


def tcp_echo(address: tuple[str, int], data: bytes) -> bytes:
    """Send `data`, half-close, and read the echo until the server closes."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(data)
        # FIN: "no more data from me", still reading
        sock.shutdown(socket.SHUT_WR)
        return b"".join(recv_until_eof(sock))


# --8<-- [end:tcp_echo]


# --8<-- [start:udp_echo]
MAX_DATAGRAM = 65_507  # the largest UDP payload over IPv4


def serve_udp_echo(sock: socket.socket, datagrams: int) -> None:
    """Send back each of the next `datagrams` datagrams to whoever sent it."""
    for _ in range(datagrams):
        # one call, one whole datagram
        data, sender = sock.recvfrom(MAX_DATAGRAM)
        sock.sendto(data, sender)


def udp_echo(address: tuple[str, int], messages: list[bytes]) -> list[bytes]:
    """Send each message as one datagram and wait for its echo."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # a lost datagram is never resent: we would wait
        sock.settimeout(TIMEOUT)
        for message in messages:
            sock.sendto(message, address)
            data, _ = sock.recvfrom(MAX_DATAGRAM)
            replies.append(data)
    return replies


# --8<-- [end:udp_echo]


# --8<-- [start:handshake]
def data_sent_before_accept() -> bytes:
    """Connect and send to a listener before it calls `accept()`; return what it
    reads.

    `connect()` returns once SYN, SYN-ACK and ACK have been exchanged. The
    kernel of the listening side answers the SYN and queues the finished
    connection in the listen backlog; `accept()` only takes it off that queue.
    """
    with socket.create_server(("127.0.0.1", 0), backlog=1) as listener:
        listener.settimeout(TIMEOUT)
        with socket.create_connection(
            listener.getsockname(), timeout=TIMEOUT
        ) as client:
            # lands in the kernel's buffer
            client.sendall(b"sent before accept")
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                return conn.recv(4096)


# --8<-- [end:handshake]


# --8<-- [start:time_wait]
import errno


def rebind_after_server_closes_first(reuse_address: bool) -> str:
    """Close a connection from the server side, then try to listen on its port
    again.

    Returns "bound" or the errno name of the failure. The side that closes first
    ends in TIME_WAIT for 2 x MSL, and its socket keeps the local port until
    then.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse_address
        )
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        with socket.create_connection(
            ("127.0.0.1", port), timeout=TIMEOUT
        ) as client:
            conn, _ = listener.accept()
            conn.close()  # the server sends FIN first: it is the active closer
            client.recv(1)  # b"": the client saw the FIN; it closes in turn
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse_address)
        try:
            again.bind(("127.0.0.1", port))
        except OSError as error:
            return errno.errorcode[error.errno]
        return "bound"


# --8<-- [end:time_wait]


# --8<-- [start:coalesce]
def three_sends_one_stream() -> list[bytes]:
    """Send three words with three `send` calls; return the chunks the receiver
    got."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        with socket.create_connection(
            listener.getsockname(), timeout=TIMEOUT
        ) as client:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                for word in (b"one", b"two", b"three"):
                    client.sendall(word)
                # FIN: the receiver's loop can end
                client.shutdown(socket.SHUT_WR)
                return recv_until_eof(conn)


# --8<-- [end:coalesce]


# --8<-- [start:length_prefix]
import struct

# a 4-byte unsigned length, big-endian ("network order")
HEADER = struct.Struct("!I")
MAX_MESSAGE = 64 * 1024


def encode_length_prefixed(
    message: bytes, max_size: int = MAX_MESSAGE
) -> bytes:
    """Frame one message: its length in 4 bytes, then the bytes themselves."""
    if len(message) > max_size:
        raise FrameTooLarge(
            f"message of {len(message)} bytes > limit {max_size}"
        )
    return HEADER.pack(len(message)) + message


class LengthPrefixDecoder:
    """Turn chunks of a byte stream, split anywhere, into length-prefixed
    messages."""

    def __init__(self, max_size: int = MAX_MESSAGE) -> None:
        self.max_size = max_size
        # bytes received but not yet part of a message
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every message they complete (maybe
        none)."""
        self._buffer += data
        messages = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.max_size:  # refuse before the payload even arrives
                raise FrameTooLarge(
                    f"frame announces {length} bytes > {self.max_size}"
                )
            end = HEADER.size + length
            if len(self._buffer) < end:
                break  # a partial read: wait for the rest
            messages.append(bytes(self._buffer[HEADER.size : end]))
            del self._buffer[:end]
        return messages

    def close(self) -> None:
        """Call at end of stream: raise IncompleteFrame if a message was cut
        off."""
        if self._buffer:
            raise IncompleteFrame(
                f"stream ended {len(self._buffer)} bytes into a frame"
            )


# --8<-- [end:length_prefix]


# --8<-- [start:delimiter]
def encode_delimited(
    message: bytes, delimiter: bytes = b"\n", max_size: int = MAX_MESSAGE
) -> bytes:
    """Frame one message by appending the delimiter, which it must not
    contain."""
    framed = message + delimiter
    if framed.find(delimiter) != len(message):  # inside it, or across the join
        raise FrameError("the message contains the delimiter: escape it")
    if len(message) > max_size:
        raise FrameTooLarge(
            f"message of {len(message)} bytes > limit {max_size}"
        )
    return framed


class DelimiterDecoder:
    """Turn chunks of a byte stream, split anywhere, into delimiter-ended
    messages."""

    def __init__(
        self, delimiter: bytes = b"\n", max_size: int = MAX_MESSAGE
    ) -> None:
        if not delimiter:
            raise ValueError("the delimiter must be at least one byte")
        self.delimiter = delimiter
        self.max_size = max_size
        self._buffer = bytearray()
        # bytes of _buffer already searched: never search them twice
        self._scanned = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every message they complete (maybe
        none)."""
        self._buffer += data
        messages = []
        while (end := self._buffer.find(self.delimiter, self._scanned)) != -1:
            if end > self.max_size:
                raise FrameTooLarge(
                    f"message of {end} bytes > limit {self.max_size}"
                )
            messages.append(bytes(self._buffer[:end]))
            del self._buffer[: end + len(self.delimiter)]
            self._scanned = 0
        # the tail may hold the start of a delimiter split across two reads
        self._scanned = max(0, len(self._buffer) - len(self.delimiter) + 1)
        # no delimiter in sight: stop buffering
        if self._scanned > self.max_size:
            raise FrameTooLarge(f"no delimiter in {len(self._buffer)} bytes")
        return messages

    def close(self) -> None:
        """Call at end of stream: raise IncompleteFrame if a message was cut
        off."""
        if self._buffer:
            raise IncompleteFrame(
                f"stream ended {len(self._buffer)} bytes into a line"
            )


# --8<-- [end:delimiter]


# --8<-- [start:receiver]
from typing import Protocol


class Decoder(Protocol):
    """What `receive_messages` needs from a framing: feed chunks, close at the
    end."""

    def feed(self, data: bytes) -> list[bytes]: ...

    def close(self) -> None: ...


def receive_messages(
    sock: socket.socket,
    decoder: Decoder,
    bufsize: int = 4096,
    max_messages: int = 1000,
) -> list[bytes]:
    """Read until the peer closes, feeding every chunk to `decoder`; return
    messages."""
    messages: list[bytes] = []
    while chunk := sock.recv(bufsize):  # any number of bytes from 1 to bufsize
        messages.extend(decoder.feed(chunk))
        if len(messages) > max_messages:
            raise FrameTooLarge(f"more than {max_messages} messages")
    decoder.close()  # the stream ended: was the last message complete?
    return messages


def send_in_pieces(sock: socket.socket, data: bytes, piece: int = 1) -> None:
    """Write `data` a few bytes at a time, then FIN.

    Without Nagle most pieces leave in a segment of their own, but TCP_NODELAY
    is no promise: the kernel may still merge queued pieces (full window,
    retransmission).
    """
    # no Nagle hold-back
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for start in range(0, len(data), piece):
        sock.sendall(data[start : start + piece])
    sock.shutdown(socket.SHUT_WR)


def tiny_pieces_round_trip(
    stream: bytes, decoder: Decoder, bufsize: int
) -> list[bytes]:
    """Send `stream` one byte per write over loopback; decode it with small
    reads."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        with socket.create_connection(
            listener.getsockname(), timeout=TIMEOUT
        ) as client:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                sender = threading.Thread(
                    target=send_in_pieces, args=(client, stream)
                )
                sender.start()
                try:
                    return receive_messages(conn, decoder, bufsize=bufsize)
                finally:
                    sender.join(TIMEOUT)


# --8<-- [end:receiver]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_echo]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    server = threading.Thread(target=serve_tcp_echo, args=(listener,))
    server.start()
    try:
        print(tcp_echo(listener.getsockname(), b"hello over TCP"))
        #> b'hello over TCP'
    finally:
        server.join(TIMEOUT)
        listener.close()

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(TIMEOUT)
    server = threading.Thread(target=serve_udp_echo, args=(udp, 3))
    server.start()
    try:
        print(udp_echo(udp.getsockname(), [b"one", b"two", b"three"]))
        #> [b'one', b'two', b'three']
    finally:
        server.join(TIMEOUT)
        udp.close()
    # --8<-- [end:demo_echo]

    # --8<-- [start:demo_handshake]
    print(data_sent_before_accept())
    #> b'sent before accept'
    # --8<-- [end:demo_handshake]

    # --8<-- [start:demo_time_wait]
    print(rebind_after_server_closes_first(reuse_address=False))
    #> EADDRINUSE
    print(rebind_after_server_closes_first(reuse_address=True))
    #> bound
    # --8<-- [end:demo_time_wait]

    # --8<-- [start:demo_coalesce]
    chunks = three_sends_one_stream()
    print(b"".join(chunks))
    #> b'onetwothree'
    # --8<-- [end:demo_coalesce]

    # --8<-- [start:demo_partial]
    decoder = LengthPrefixDecoder()
    stream = encode_length_prefixed(b"hello") + encode_length_prefixed(b"world")
    print(decoder.feed(stream[:7]))  # the header and 3 bytes of "hello"
    #> []
    # the end of "hello", half the next header
    print(decoder.feed(stream[7:11]))
    #> [b'hello']
    print(decoder.feed(stream[11:]))
    #> [b'world']
    decoder.close()  # nothing left over: the stream ended on a frame boundary
    # --8<-- [end:demo_partial]

    # --8<-- [start:demo_limits]
    try:
        LengthPrefixDecoder(max_size=1024).feed(b"\xff\xff\xff\xff")
    except FrameTooLarge as error:
        print(error)
        #> frame announces 4294967295 bytes > 1024
    lines = DelimiterDecoder()
    print(lines.feed(b"GET /a\nGET /b\nGET /"))
    #> [b'GET /a', b'GET /b']
    try:
        lines.close()
    except IncompleteFrame as error:
        print(error)
        #> stream ended 5 bytes into a line
    # --8<-- [end:demo_limits]

    # --8<-- [start:demo_tiny_pieces]
    messages = [b"alpha", b"", b"gamma" * 100]
    framed = b"".join(encode_length_prefixed(m) for m in messages)
    prefixed = LengthPrefixDecoder()
    print(tiny_pieces_round_trip(framed, prefixed, bufsize=3) == messages)
    #> True
    lined = b"".join(encode_delimited(m, b"\r\n") for m in messages)
    crlf = DelimiterDecoder(b"\r\n")
    print(tiny_pieces_round_trip(lined, crlf, bufsize=3) == messages)
    #> True
    # --8<-- [end:demo_tiny_pieces]
