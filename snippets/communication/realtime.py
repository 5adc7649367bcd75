"""Real-time from scratch: polling, long polling, server-sent events,
WebSockets.

Read first: the HTTP/1.1 messages page (requests, responses, headers) and the
sockets page (a TCP connection is a byte stream). This module serves one feed of
messages four ways from one `http.server` on loopback: `/poll` answers at once,
`/long-poll` holds the request until a message arrives, `/events` streams them
as server-sent events (`text/event-stream`, with an incremental parser per the
WHATWG HTML standard), and `/ws` upgrades the connection to a WebSocket (RFC
6455: the handshake, frames, masking, ping/pong and the close handshake), with a
small WebSocket client built the same way.

What it leaves out: extensions (permessage-deflate compression), subprotocols,
origin checks and authentication of the upgrade request, TLS (`wss://`), HTTP/2
and HTTP/3 transports (RFC 8441, RFC 9220), and the fan-out of one message to
many connections across several server processes, which real systems do with a
broker.

Run it: `python -m snippets.communication.realtime`.
"""

# --8<-- [start:feed]
import threading
import time


class Feed:
    """An append-only list of messages that readers can poll or wait on."""

    def __init__(self) -> None:
        # index i holds message id i + 1; guarded
        self._messages: list[str] = []
        self._closed = False  # once True, waiters return at once; guarded
        self._changed = threading.Condition()  # guards both fields above

    def publish(self, text: str) -> int:
        """Append a message, wake every waiting reader, return the message's
        id."""
        with self._changed:
            self._messages.append(text)
            self._changed.notify_all()
            return len(self._messages)

    def after(self, last_id: int) -> list[tuple[int, str]]:
        """The messages newer than `last_id`, at once (what a poll answers)."""
        with self._changed:
            return list(enumerate(self._messages[last_id:], start=last_id + 1))

    def wait_after(self, last_id: int, timeout: float) -> list[tuple[int, str]]:
        """Wait up to `timeout` seconds for messages newer than `last_id`."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or len(self._messages) > last_id, timeout
            )
            return list(enumerate(self._messages[last_id:], start=last_id + 1))

    def close(self) -> None:
        """Wake every waiter for good: the server is shutting down."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed


# --8<-- [end:feed]


# --8<-- [start:server]
import contextlib
import http.server
import json
import urllib.parse
from collections.abc import Callable

from snippets.communication.http_messages.message_server import (
    TIMEOUT,
    FramedRequestHandler,
    close_gently,
)

# path -> the function that answers it; each section below adds its own
ROUTES: dict[str, Callable[["RealtimeHandler", int], None]] = {}


class RealtimeHandler(FramedRequestHandler):
    """One feed, four ways: /poll, /long-poll, /events and /ws."""

    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT  # seconds a connection may stay silent
    server: "RealtimeServer"

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path not in ROUTES:
            return self.send_error(404)
        last_id = urllib.parse.parse_qs(url.query).get("after", ["0"])[0]
        # a reconnecting EventSource says where it stopped
        if url.path == "/events":
            last_id = self.headers.get("Last-Event-ID") or last_id
        if not (last_id.isascii() and last_id.isdigit() and len(last_id) < 19):
            return self.send_error(400, "a message id is a decimal number")
        ROUTES[url.path](self, int(last_id))

    def send_json(self, value: object) -> None:
        """Answer 200 with `value` as a JSON body."""
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the page shows."""


# --8<-- [end:server]


# --8<-- [start:routes]
def poll(handler: RealtimeHandler, last_id: int) -> None:
    """Polling: answer at once, with whatever is new (often nothing)."""
    handler.send_json(handler.server.feed.after(last_id))


def long_poll(handler: RealtimeHandler, last_id: int) -> None:
    """Long polling: hold the request until something is new, or `hold`
    seconds."""
    handler.send_json(
        handler.server.feed.wait_after(last_id, handler.server.hold)
    )


ROUTES["/poll"] = poll
ROUTES["/long-poll"] = long_poll


# --8<-- [end:routes]


# --8<-- [start:server_class]
class RealtimeServer(http.server.ThreadingHTTPServer):
    """Serves one Feed on a free loopback port, in a background thread."""

    daemon_threads = False  # server_close() joins every connection thread

    def __init__(self, feed: Feed, hold: float = 5.0, max_message: int = 65536):
        super().__init__(("127.0.0.1", 0), RealtimeHandler)
        self.feed, self.hold, self.max_message = feed, hold, max_message
        # seconds between keep-alive comments on an idle stream
        self.heartbeat = 1.0
        # seconds before an event stream ends (clients resume)
        self.stream_for = 30.0
        self.closes: list[int | None] = []  # codes of ended WebSocket sessions
        # daemon: should a caller never stop the server, the process can still
        # exit
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,))
        self.thread.daemon = True
        self.thread.start()

    def __exit__(self, *exc_info: object) -> None:
        self.feed.close()  # wake every long poll and event stream...
        # ...stop accepting (serve_forever checks every 0.05 s)...
        self.shutdown()
        self.thread.join(timeout=TIMEOUT)
        self.server_close()  # ...and join the connection threads


# --8<-- [end:server_class]


# --8<-- [start:poll_client]
import dataclasses
import http.client


def get_json(address: tuple[str, int], path: str) -> list:
    """GET `path` on a new connection; the decoded JSON body."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


@dataclasses.dataclass
class Delivery:
    """What it cost a client to receive a series of messages."""

    requests: int = 0
    empty: int = 0  # answers that carried no message at all
    # publish -> receipt
    delays: list[float] = dataclasses.field(default_factory=list)


def publish_slowly(
    feed: Feed, count: int, gap: float, times: list[float]
) -> None:
    """Publish `count` messages, `gap` seconds apart, noting when each went
    out."""
    for n in range(count):
        time.sleep(gap)
        # before publishing: a reader may be fast
        times.append(time.monotonic())
        feed.publish(f"message {n + 1}")


# --8<-- [end:poll_client]


# --8<-- [start:measure]
def measure(
    address: tuple[str, int], path: str, feed: Feed, pause: float
) -> Delivery:
    """Publish 4 messages 0.1 s apart while a client fetches them through
    `path`."""
    start = last_id = len(feed.after(0))
    published: list[float] = []  # written by the publisher thread only
    publisher = threading.Thread(
        target=publish_slowly, args=(feed, 4, 0.1, published)
    )
    publisher.start()
    delivery, deadline = Delivery(), time.monotonic() + 5
    try:
        while last_id < start + 4 and time.monotonic() < deadline:
            messages = get_json(address, f"{path}?after={last_id}")
            now = time.monotonic()
            delivery.requests += 1
            delivery.empty += not messages
            for last_id, _text in messages:
                delivery.delays.append(now - published[last_id - start - 1])
            time.sleep(pause)  # a polling client waits between requests
    finally:
        publisher.join(timeout=TIMEOUT)
    return delivery


# --8<-- [end:measure]


# --8<-- [start:sse_format]
import re

# the three line endings of an event stream
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def format_event(
    data: str, event: str = "", event_id: str | None = None
) -> bytes:
    """One event in the `text/event-stream` format (WHATWG HTML, section 9.2.5).

    Each line of `data` becomes its own `data:` field; the blank line ends the
    event. Raises ValueError for an event type or id that would break the
    framing.
    """
    if LINE_BREAK.search(event) or (event_id and LINE_BREAK.search(event_id)):
        raise ValueError("event types and ids cannot contain line breaks")
    if event_id is not None and "\0" in event_id:
        raise ValueError("an id containing NULL is ignored by every client")
    lines = [f"event: {event}"] if event else []
    lines += [f"id: {event_id}"] if event_id is not None else []
    lines += [f"data: {line}" for line in LINE_BREAK.split(data)]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


# --8<-- [end:sse_format]


# --8<-- [start:sse_event]
@dataclasses.dataclass(frozen=True)
class Event:
    """One dispatched server-sent event, as a browser's EventSource delivers
    it."""

    data: str
    event: str = "message"  # the type, unless an `event:` field named another
    last_event_id: str = ""  # the id a reconnecting client sends back


class EventStreamError(ValueError):
    """The stream broke a limit of the parser: a line or an event too long."""


# --8<-- [end:sse_event]


# --8<-- [start:sse_fields]
class EventFields:
    """What each line of an event stream means (WHATWG HTML, section 9.2.6)."""

    def __init__(self, max_data: int) -> None:
        self.max_data, self._data_size = max_data, 0
        # the data buffer, one entry per `data:` line
        self._data: list[str] = []
        # the event type buffer, the last event ID buffer
        self._type = self._id = ""
        self.last_event_id = ""  # copied from the ID buffer at each blank line
        self.retry: int | None = None  # reconnection time in ms, from `retry:`

    def line(self, line: str) -> Event | None:
        """Process one line; return the event a blank line completes, if any."""
        if not line:
            return self.dispatch()
        field, _, value = line.partition(":")  # no colon: the value is ""
        value = value.removeprefix(" ")  # one space after the colon is dropped
        if field == "data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_data:
                raise EventStreamError(
                    f"event data over {self.max_data} characters"
                )
            self._data.append(value)
        elif field == "event":
            self._type = value
        elif field == "id" and "\0" not in value:
            self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        # a comment (empty field name) and unknown fields are ignored
        return None

    def dispatch(self) -> Event | None:
        """The blank line: copy the ID, then fire an event if there was data."""
        self.last_event_id = self._id
        data, kind = self._data, self._type or "message"
        self._data, self._data_size, self._type = [], 0, ""
        if not data:
            return None
        return Event("\n".join(data), kind, self.last_event_id)


# --8<-- [end:sse_fields]


# --8<-- [start:sse_parser]
import codecs


class EventStreamParser(EventFields):
    """Incremental `text/event-stream` parser: bytes split anywhere in, events
    out."""

    def __init__(self, max_line: int = 65536, max_data: int = 1 << 20) -> None:
        super().__init__(max_data)
        self.max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # the text after the last line break
        self._after_cr = (
            False  # the text so far ended in CR: a leading LF pairs with it
        )
        # one byte order mark at the very start is ignored
        self._at_start = True

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse the next bytes of the stream; return the events they
        complete."""
        # a character split across chunks waits
        text = self._decoder.decode(chunk)
        if self._at_start and text:
            text, self._at_start = text.removeprefix("\ufeff"), False
        if text:
            # of a "\r\n"
            second_half = self._after_cr and text.startswith("\n")
            self._after_cr = text.endswith("\r")
            text = text[1:] if second_half else text
        *lines, self._pending = LINE_BREAK.split(self._pending + text)
        if len(self._pending) > self.max_line:
            raise EventStreamError(f"a line over {self.max_line} characters")
        events = (self.line(line) for line in lines)
        return [event for event in events if event is not None]


# --8<-- [end:sse_parser]


# --8<-- [start:sse_endpoint]
def stream_events(handler: RealtimeHandler, last_id: int) -> None:
    """Server-sent events: one long response, an event per message, from
    `last_id`."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-store")
    # the stream ends with the connection
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.close_connection = True
    server, deadline = (
        handler.server,
        time.monotonic() + handler.server.stream_for,
    )
    try:
        # reconnect after 1 s
        handler.wfile.write(b": welcome\nretry: 1000\n\n")
        while not server.feed.closed and time.monotonic() < deadline:
            messages = server.feed.wait_after(last_id, server.heartbeat)
            for last_id, text in messages:
                handler.wfile.write(format_event(text, event_id=str(last_id)))
            # a comment keeps proxies from timing the stream out
            if not messages:
                handler.wfile.write(b": keep-alive\n\n")
    except OSError:
        return  # the client went away


ROUTES["/events"] = stream_events


# --8<-- [end:sse_endpoint]


# --8<-- [start:sse_client]
def read_events(
    address: tuple[str, int], count: int, last_event_id: str = ""
) -> list[Event]:
    """Open /events like an EventSource does, parse `count` events, hang up."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id:  # resume after the last event this client saw
        headers["Last-Event-ID"] = last_event_id
    connection = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        connection.request("GET", "/events", headers=headers)
        response, parser, events = (
            connection.getresponse(),
            EventStreamParser(),
            [],
        )
        deadline = time.monotonic() + 5
        while len(events) < count and time.monotonic() < deadline:
            if not (chunk := response.read1(4096)):
                break  # the server ended the stream
            events += parser.feed(chunk)
        return events[:count]
    finally:
        connection.close()


# --8<-- [end:sse_client]


# --8<-- [start:ws_accept]
import base64
import hashlib
from email.message import Message

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept answer to a Sec-WebSocket-Key (RFC 6455,
    4.2.2)."""
    digest = hashlib.sha1(
        (key + GUID).encode("ascii"), usedforsecurity=False
    ).digest()
    return base64.b64encode(digest).decode("ascii")


# --8<-- [end:ws_accept]


# --8<-- [start:ws_handshake]
class HandshakeError(ValueError):
    """An upgrade request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def has_token(headers: Message, name: str, token: str) -> bool:
    """True if the comma-separated header `name` lists `token`
    (case-insensitive)."""
    values = ",".join(headers.get_all(name) or []).split(",")
    return token in (value.strip().lower() for value in values)


def check_upgrade(method: str, version: str, headers: Message) -> str:
    """Validate an opening handshake (RFC 6455, 4.2.1); return the accept
    value."""
    if method != "GET" or version != "HTTP/1.1":
        raise HandshakeError(400, "a WebSocket handshake is an HTTP/1.1 GET")
    if not has_token(headers, "Upgrade", "websocket"):
        raise HandshakeError(400, "missing Upgrade: websocket")
    if not has_token(headers, "Connection", "upgrade"):
        raise HandshakeError(400, "missing Connection: Upgrade")
    if headers.get("Sec-WebSocket-Version") != "13":
        # RFC 6455, 4.4
        raise HandshakeError(426, "only version 13 is supported")
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        nonce = base64.b64decode(key, validate=True)
    except ValueError:
        nonce = b""
    if len(nonce) != 16:
        raise HandshakeError(
            400, "Sec-WebSocket-Key must be 16 bytes in base64"
        )
    return accept_key(key)


# --8<-- [end:ws_handshake]


# --8<-- [start:ws_frame]
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODES = {CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG}


@dataclasses.dataclass(frozen=True)
class Frame:
    """One WebSocket frame, unmasked (RFC 6455, section 5.2)."""

    opcode: int
    payload: bytes
    fin: bool = True  # False on every fragment of a message but the last


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR the payload with the 4-byte key, repeated (RFC 6455, 5.3); an
    involution."""
    size = len(payload)
    repeated = (key * (size // 4 + 1))[:size]
    mixed = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return mixed.to_bytes(size, "big")


def encode_frame(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """The bytes of a frame: masked with `mask_key` when a client sends it."""
    head = bytes([0x80 * frame.fin | frame.opcode])
    size, masked = len(frame.payload), 0x80 if mask_key else 0
    if size < 126:  # 7-bit length
        head += bytes([masked | size])
    elif size < 1 << 16:  # 126, then a 16-bit length
        head += bytes([masked | 126]) + size.to_bytes(2, "big")
    else:  # 127, then a 64-bit length
        head += bytes([masked | 127]) + size.to_bytes(8, "big")
    if mask_key is None:
        return head + frame.payload
    return head + mask_key + mask(frame.payload, mask_key)


# --8<-- [end:ws_frame]


# --8<-- [start:ws_errors]
class ProtocolError(Exception):
    """The peer broke RFC 6455: the connection fails with close code 1002."""

    code = 1002


class InvalidData(ProtocolError):
    """A text message or close reason that is not UTF-8: close code 1007."""

    code = 1007


class MessageTooBig(ProtocolError):
    """A frame or message over the size limit: close code 1009."""

    code = 1009


class PolicyViolation(ProtocolError):
    """A message this server refuses for another reason (too many frames):
    1008."""

    code = 1008


class ConnectionClosed(EOFError):
    """The TCP connection ended in the middle of a frame."""


# --8<-- [end:ws_errors]


# --8<-- [start:ws_read]
def read_exact(read: Callable[[int], bytes], size: int) -> bytes:
    """Read exactly `size` bytes; a stream that ends first raises
    ConnectionClosed."""
    data = bytearray()  # grows in place: no copy of what was read so far
    while len(data) < size:
        chunk = read(size - len(data))
        if not chunk:
            raise ConnectionClosed(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def check_header(
    first: int, second: int, from_client: bool
) -> tuple[int, bool, int]:
    """The opcode, FIN bit and 7-bit length of a frame's first two bytes,
    checked."""
    opcode, fin, size = first & 0x0F, bool(first & 0x80), second & 0x7F
    if first & 0x70:
        raise ProtocolError(
            "reserved bits set, but no extension was negotiated"
        )
    if opcode not in OPCODES:
        raise ProtocolError(f"unknown opcode {opcode:#x}")
    if opcode >= CLOSE and (size > 125 or not fin):  # RFC 6455, 5.5
        raise ProtocolError(
            "a control frame is at most 125 bytes and not fragmented"
        )
    if bool(second & 0x80) != from_client:  # RFC 6455, 5.1
        raise ProtocolError("a client must mask its frames, a server must not")
    return opcode, fin, size


def read_frame(
    read: Callable[[int], bytes], max_size: int, from_client: bool
) -> Frame:
    """Read and check one frame; refuse it before reading a payload over
    `max_size`."""
    opcode, fin, size = check_header(*read_exact(read, 2), from_client)
    if size >= 126:  # the real length follows in 2 or 8 bytes
        size = int.from_bytes(read_exact(read, 2 if size == 126 else 8), "big")
    if size > max_size:
        raise MessageTooBig(
            f"a frame of {size} bytes, over the limit of {max_size}"
        )
    key = read_exact(read, 4) if from_client else b""
    payload = read_exact(read, size)
    return Frame(opcode, mask(payload, key) if key else payload, fin)


# --8<-- [end:ws_read]


# --8<-- [start:ws_close]
# Codes a peer may send in a close frame (RFC 6455, 7.4; IANA registry;
# 3000-4999 apps). 1005, 1006 and 1015 only report what happened locally: never
# sent on the wire.
SENDABLE = {
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
}


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: a 2-byte code, then a UTF-8 reason."""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a close frame; 1005 when it carries no code."""
    if not payload:
        return 1005, ""
    code = int.from_bytes(payload[:2], "big")
    if len(payload) == 1 or not (code in SENDABLE or 3000 <= code <= 4999):
        raise ProtocolError(f"invalid close payload {payload[:2].hex()}")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidData("a close reason must be UTF-8") from None


# --8<-- [end:ws_close]


# --8<-- [start:ws_session]
import socket

# data frames in one message; empty ones would pass the size limit
MAX_FRAGMENTS = 1024


def receive_message(
    read: Callable[[int], bytes], send: Callable[[Frame], None], limit: int
) -> Frame:
    """The next data message, reassembled from fragments, or the close frame.

    Pings are answered on the way (RFC 6455, 5.5.2) and pongs ignored; control
    frames may arrive between the fragments of a message (section 5.4).
    """
    parts: list[bytes] = []  # the fragments so far, joined once at the end
    size, opcode = 0, None  # their total length; the opcode of the message
    while True:
        frame = read_frame(read, limit, from_client=True)
        if frame.opcode == CLOSE:
            return frame
        if frame.opcode in (PING, PONG):
            if frame.opcode == PING:
                send(Frame(PONG, frame.payload))  # the same payload back
            continue
        if (frame.opcode == CONTINUATION) != (opcode is not None):
            raise ProtocolError("a continuation frame must follow a fragment")
        opcode, size = opcode or frame.opcode, size + len(frame.payload)
        # a running total: summing `parts` each time is quadratic
        if size > limit:
            raise MessageTooBig(f"a message over the limit of {limit} bytes")
        parts.append(frame.payload)
        if len(parts) > MAX_FRAGMENTS:
            raise PolicyViolation(
                f"a message in more than {MAX_FRAGMENTS} frames"
            )
        if frame.fin:
            return Frame(opcode, b"".join(parts))


def check_text(message: Frame) -> Frame:
    """A text message must be UTF-8 (RFC 6455, 8.1): else close code 1007."""
    if message.opcode == TEXT:
        try:
            message.payload.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidData("a text message must be UTF-8") from None
    return message


# --8<-- [end:ws_session]


# --8<-- [start:ws_echo]
class WebSocketSession:
    """The server's side of one WebSocket connection: an echo service."""

    def __init__(
        self, sock: socket.socket, read: Callable[[int], bytes], limit: int
    ):
        self.sock, self.read, self.limit = sock, read, limit
        # the code of the close frame we sent
        self.close_code: int | None = None

    def send(self, frame: Frame) -> None:
        """Send one frame, unmasked: a server never masks (RFC 6455, 5.1)."""
        self.sock.sendall(encode_frame(frame))

    def echo(self) -> bytes:
        """Echo messages until the client's close frame; the payload to answer
        it."""
        message = receive_message(self.read, self.send, self.limit)
        while message.opcode != CLOSE:
            # text stays text, binary stays binary
            self.send(check_text(message))
            message = receive_message(self.read, self.send, self.limit)
        self.close_code = parse_close(message.payload)[0]
        return message.payload[:2]  # echo the code (5.5.1)

    def run(self) -> None:
        """Echo until the close handshake, a protocol error or a silent
        client."""
        try:
            answer = self.echo()
        except ProtocolError as error:  # fail the connection (RFC 6455, 7.1.7)
            self.close_code = error.code
            answer = close_payload(error.code, str(error)[:100])
        except TimeoutError:  # silent too long: say so, do not just drop TCP
            self.close_code = 1001  # "going away" (RFC 6455, 7.4.1)
            answer = close_payload(1001, "idle for too long")
        except (ConnectionClosed, OSError):
            return  # the client vanished: nobody to answer
        self.finish(answer)

    def finish(self, answer: bytes) -> None:
        """Send our close frame, then close TCP first (RFC 6455, 7.1.1) and
        drain."""
        # the client may be gone already: then
        with contextlib.suppress(OSError):
            self.send(Frame(CLOSE, answer))  # there is no one left to answer
            # our FIN, then read what the client still sends
            close_gently(self.sock)


# --8<-- [end:ws_echo]


# --8<-- [start:ws_endpoint]
def upgrade_to_websocket(handler: RealtimeHandler, last_id: int) -> None:
    """Answer the opening handshake with 101, then run an echo session."""
    try:
        accept = check_upgrade(
            handler.command, handler.request_version, handler.headers
        )
    except HandshakeError as error:
        handler.send_response(error.status, str(error))
        if error.status == 426:
            handler.send_header("Sec-WebSocket-Version", "13")
        handler.send_header("Content-Length", "0")
        return handler.end_headers()
    handler.send_response(101)  # Switching Protocols
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.end_headers()
    # no HTTP after the session on this connection
    handler.close_connection = True
    limit = handler.server.max_message
    session = WebSocketSession(handler.connection, handler.rfile.read, limit)
    session.run()
    handler.server.closes.append(session.close_code)


ROUTES["/ws"] = upgrade_to_websocket


# --8<-- [end:ws_endpoint]


# --8<-- [start:ws_client_handshake]
import io
import os


def open_websocket(
    address: tuple[str, int],
) -> tuple[socket.socket, io.BufferedReader]:
    """The client's opening handshake (RFC 6455, 4.1): a GET with a fresh
    key."""
    sock = socket.create_connection(address, timeout=TIMEOUT)
    reader = sock.makefile("rb")
    try:
        key = base64.b64encode(os.urandom(16)).decode("ascii")  # a fresh nonce
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = reader.readline(1024)
        accept = http.client.parse_headers(reader).get("Sec-WebSocket-Accept")
        if not status.startswith(b"HTTP/1.1 101 ") or accept != accept_key(key):
            raise HandshakeError(
                502, f"refused: {status.decode('latin-1').strip()}"
            )
    except BaseException:
        reader.close()
        sock.close()
        raise
    return sock, reader


# --8<-- [end:ws_client_handshake]


# --8<-- [start:ws_client]
class WebSocketClient:
    """A minimal client: masked frames out, frames in, the close handshake."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock, self.reader = open_websocket(address)
        # the server's close code, reason
        self.answer: tuple[int, str] | None = None

    def send(self, frame: Frame) -> None:
        """Send one frame, masked with a fresh random key (RFC 6455, 5.3)."""
        self.sock.sendall(encode_frame(frame, mask_key=os.urandom(4)))

    def receive(self) -> Frame:
        """The next frame from the server; a close frame is remembered."""
        frame = read_frame(self.reader.read, 1 << 20, from_client=False)
        if frame.opcode == CLOSE and self.answer is None:
            self.answer = parse_close(frame.payload)
        return frame

    def close(self, code: int = 1000) -> tuple[int, str] | None:
        """The close handshake (RFC 6455, 7.1.2): the server's code and
        reason."""
        with contextlib.suppress(OSError, ConnectionClosed):
            self.send(Frame(CLOSE, close_payload(code)))
            while self.answer is None:
                self.receive()  # messages still in flight are dropped
            self.reader.read()  # the server closes TCP first: wait for its FIN
        self.reader.close()
        self.sock.close()
        return self.answer


# --8<-- [end:ws_client]


if __name__ == "__main__":
    # The page checks the `#>` lines under each print: the formatter must keep
    # them.
    # fmt: off
    # --8<-- [start:demo_start]
    feed = Feed()
    server = RealtimeServer(feed)
    address = server.server_address[:2]
    # --8<-- [end:demo_start]
    try:
        # --8<-- [start:demo_polling]
        # poll every 30 ms
        polling = measure(address, "/poll", feed, pause=0.03)
        long_polling = measure(address, "/long-poll", feed, pause=0)
        print(polling.requests > long_polling.requests, polling.empty > 0)
        #> True True
        # one answer a message
        print(long_polling.requests <= 4, long_polling.empty)
        #> True 0
        # --8<-- [end:demo_polling]
        # --8<-- [start:demo_format]
        print(format_event("two\nlines", event="note", event_id="42"))
        #> b'event: note\nid: 42\ndata: two\ndata: lines\n\n'
        # --8<-- [end:demo_format]
        # --8<-- [start:demo_parser]
        stream = (
            # BOM, comment
            b"\xef\xbb\xbf:hi\r\nretry: 1500\nevent: price\rdata: 1\r\n"
            b"data:2\n\nid: 7\ndata\n\n"  # CR, LF and CRLF line endings, mixed
        )
        parser = EventStreamParser()
        events = [
            event for byte in stream for event in parser.feed(bytes([byte]))
        ]
        print(
            [(e.event, e.data, e.last_event_id) for e in events], parser.retry
        )
        #> [('price', '1\n2', ''), ('message', '', '7')] 1500
        # --8<-- [end:demo_parser]
        # --8<-- [start:demo_sse]
        for text in ("first", "second,\non two lines", "third"):
            feed.publish(text)  # ids 9, 10 and 11: the polls above used 1 to 8
        events = read_events(address, 2, last_event_id="8")
        print([(e.last_event_id, e.data) for e in events])
        #> [('9', 'first'), ('10', 'second,\non two lines')]
        events = read_events(address, 1, last_event_id=events[-1].last_event_id)
        print([(e.last_event_id, e.data) for e in events])  # resumed after 10
        #> [('11', 'third')]
        # --8<-- [end:demo_sse]
        # --8<-- [start:demo_accept]
        print(accept_key("dGhlIHNhbXBsZSBub25jZQ=="))  # RFC 6455, section 1.3
        #> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
        # --8<-- [end:demo_accept]
        # --8<-- [start:demo_frames]
        # RFC 6455, section 5.7
        print(encode_frame(Frame(TEXT, b"Hello")).hex(" "))
        #> 81 05 48 65 6c 6c 6f
        print(
            encode_frame(Frame(TEXT, b"Hello"), bytes.fromhex("37fa213d")).hex(
                " "
            )
        )
        #> 81 85 37 fa 21 3d 7f 9f 4d 51 58
        sizes = (125, 256, 65536)  # 7-bit, 16-bit and 64-bit lengths
        print([len(encode_frame(Frame(BINARY, bytes(n)))) - n for n in sizes])
        #> [2, 4, 10]
        # --8<-- [end:demo_frames]
        # --8<-- [start:demo_websocket]
        client = WebSocketClient(address)
        client.send(Frame(TEXT, "héllo".encode()))
        print(client.receive())
        #> Frame(opcode=1, payload=b'h\xc3\xa9llo', fin=True)
        client.send(Frame(TEXT, b"frag", fin=False))
        client.send(Frame(PING, b"still there?"))  # allowed between fragments
        client.send(Frame(CONTINUATION, b"ments"))
        print(client.receive().payload, client.receive().payload)
        #> b'still there?' b'fragments'
        print(client.close(1000))
        #> (1000, '')
        # --8<-- [end:demo_websocket]
        # --8<-- [start:demo_too_big]
        client = WebSocketClient(address)
        client.send(Frame(BINARY, bytes(70_000)))  # the server's limit is 65536
        print(client.receive().opcode == CLOSE, client.close())
        #> True (1009, 'a frame of 70000 bytes, over the limit of 65536')
        # --8<-- [end:demo_too_big]
    finally:
        # --8<-- [start:demo_cleanup]
        # wake the waiters, stop, join every thread
        server.__exit__(None, None, None)
        # --8<-- [end:demo_cleanup]
    # --8<-- [start:demo_closes]
    # each session's thread records its own: any order
    print(sorted(server.closes))
    #> [1000, 1009]
    # --8<-- [end:demo_closes]
    # fmt: on
