"""Webhooks: signed deliveries, replay protection, and retries with backoff and
jitter.

What it teaches: how a sender proves a webhook is its own (HMAC-SHA256 over
`timestamp + "." + body`, sent as `Webhook-Signature: t=...,v1=...` in the style
of Stripe's header); how a receiver refuses tampered, forged, stale,
future-dated and replayed deliveries with a clear reason (a signature check in
constant time, a timestamp tolerance window, and a store of event IDs already
seen); how two secrets can be valid at once so that a secret can be rotated
without downtime; and how a sender retries a failed delivery a bounded number of
times with exponential backoff and full jitter, re-signing each attempt, while
the receiver answers 2xx as soon as it has recorded the event. A real sender and
receiver talk over loopback.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the receiver is one of its handlers, run with its `serving`, so this
module builds on `snippets.application.app_core`. Then the authentication page
(HMAC and constant-time comparison).

What it leaves out: a durable outbox on the sender and a durable queue on the
receiver (both live in memory), asymmetric signatures (Ed25519), `Retry-After`,
per-endpoint rate limits, disabling endpoints that keep failing, SSRF protection
for URLs that customers register, and HTTPS.

Run it: `python -m snippets.application.webhooks`.
"""

# --8<-- [start:sign]
import hashlib
import hmac
import re

SIGNATURE_HEADER = "Webhook-Signature"
TOLERANCE = 300  # seconds either way; Stripe's default tolerance is 300 s too


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    """HMAC-SHA256 over `timestamp.body`, in hex: the timestamp is signed
    too."""
    signed_payload = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret, signed_payload, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: list[bytes], timestamp: int) -> str:
    """`t=<unix time>,v1=<hex>[,v1=<hex>...]`: one v1 per active secret."""
    signatures = [f"v1={sign(body, secret, timestamp)}" for secret in secrets]
    return ",".join([f"t={timestamp}", *signatures])


# --8<-- [end:sign]


# --8<-- [start:parse]
class WebhookRejected(ValueError):
    """A delivery the receiver refuses; the message is the reason."""


class MalformedHeader(WebhookRejected):
    """The signature header cannot be parsed."""


TIMESTAMP = re.compile(r"[0-9]{1,12}")
HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_HEADER = 1024
MAX_SIGNATURES = 4


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and the v1 signatures; other schemes (v0, v2...) are
    ignored."""
    if len(header) > MAX_HEADER:
        raise MalformedHeader("signature header too long")
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and timestamp is None and TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif key == "t":
            raise MalformedHeader(f"bad or repeated t={value[:20]!r}")
        elif key == "v1" and HEX_SHA256.fullmatch(value):
            signatures.append(value)
        elif key == "v1":
            raise MalformedHeader("v1 is not 64 lowercase hex digits")
    if timestamp is None or not 1 <= len(signatures) <= MAX_SIGNATURES:
        raise MalformedHeader("need one t= and 1 to 4 v1= signatures")
    return timestamp, signatures


# --8<-- [end:parse]


# --8<-- [start:verify]
class SignatureMismatch(WebhookRejected):
    """No v1 signature matches the body and timestamp under any of our
    secrets."""


class StaleTimestamp(WebhookRejected):
    """Signed longer ago than the tolerance: possibly a recorded request,
    replayed."""


class FutureTimestamp(WebhookRejected):
    """Signed further in the future than the tolerance: a clock is wrong, or
    worse."""


def verify(
    body: bytes,
    header: str,
    secrets: list[bytes],
    now: float,
    tolerance: int = TOLERANCE,
) -> int:
    """Check the signature first, then the time; return the signed timestamp."""
    timestamp, signatures = parse_signature_header(header)
    expected = [sign(body, secret, timestamp) for secret in secrets]
    if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
        raise SignatureMismatch("no v1 signature matches")
    age = now - timestamp
    if age > tolerance:
        raise StaleTimestamp(f"signed {age:.0f} s ago, tolerance {tolerance} s")
    if -age > tolerance:
        raise FutureTimestamp(f"signed {-age:.0f} s in the future")
    return timestamp


# --8<-- [end:verify]


# --8<-- [start:seen]
import json


class DuplicateDelivery(WebhookRejected):
    """The event ID was accepted before: acknowledge, but do not process it
    again."""


class SeenIds:
    """Event IDs already accepted, each kept for `retention` seconds,
    bounded."""

    def __init__(
        self, retention: float = 3 * 24 * 3600, capacity: int = 100_000
    ):
        self.retention = retention
        self.capacity = capacity
        # in acceptance order = expiry order
        self._expires: dict[str, float] = {}

    def add(self, event_id: str, now: float) -> bool:
        """Remember the ID; False if it is already remembered."""
        while self._expires and next(iter(self._expires.values())) <= now:
            self._expires.pop(next(iter(self._expires)))  # forget the oldest
        if event_id in self._expires:
            return False
        if len(self._expires) >= self.capacity:
            self._expires.pop(next(iter(self._expires)))
        self._expires[event_id] = now + self.retention
        return True


def accept(
    body: bytes, header: str, secrets: list[bytes], seen: SeenIds, now: float
) -> dict:
    """Verify, parse, and deduplicate one delivery; return the event."""
    verify(body, header, secrets, now)
    try:
        event = json.loads(body)  # parsed only once it is known to be authentic
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookRejected("event has no string id")
    if not seen.add(event["id"], now):  # the ID is inside the signed body
        raise DuplicateDelivery(f"event {event['id']} was already accepted")
    return event


# --8<-- [end:seen]


# --8<-- [start:receiver]
import threading
import time
from collections.abc import Callable
from typing import Any

from snippets.application.app_core import (
    TIMEOUT,
    Request,
    Response,
    problem,
    serving,
    text,
)


class WebhookReceiver:
    """The receiving endpoint, as a core handler: it records what it accepts."""

    def __init__(
        self,
        secrets: list[bytes],
        clock: Callable[[], float] = time.time,
        fail_first: int = 0,
    ) -> None:
        self.secrets, self.clock, self.fail_first = secrets, clock, fail_first
        # accepted, in order: the stand-in for a queue
        self.events: list[dict] = []
        self.refusals: list[str] = []  # reasons, in order
        self.attempts = 0
        self.seen = SeenIds()
        self._lock = threading.Lock()  # guards every attribute above

    def __call__(self, request: Request) -> Response:
        """Decide one delivery, quickly: 202, 200 for a duplicate, 400 and
        why."""
        if request.method != "POST":
            return problem(405, "only POST is allowed", [("Allow", "POST")])
        header = request.header(SIGNATURE_HEADER) or ""
        with self._lock:  # one at a time: check an ID, then record it
            self.attempts += 1
            if self.attempts <= self.fail_first:
                # a deploy, a disk...
                return problem(503, "temporarily unavailable")
            try:
                event = accept(
                    request.body, header, self.secrets, self.seen, self.clock()
                )
            except DuplicateDelivery as duplicate:
                # already have it: stop retrying
                return text(str(duplicate), 200)
            except WebhookRejected as refused:
                self.refusals.append(str(refused))
                return problem(400, str(refused))
            self.events.append(event)  # real receivers enqueue and work later
            return text("accepted", 202)


def url_of(server: Any) -> str:
    """Where to POST deliveries to a receiver that `serving(...)` runs."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/webhooks"


# --8<-- [end:receiver]


# --8<-- [start:backoff]
import random


def backoff_delays(
    attempts: int, base: float, cap: float, rand: random.Random
) -> list[float]:
    """Full jitter: wait i is uniform in [0, min(cap, base * 2**i))."""
    return [rand.random() * min(cap, base * 2**i) for i in range(attempts - 1)]


# --8<-- [end:backoff]


# --8<-- [start:sender]
import http.client
import urllib.parse
from dataclasses import dataclass


@dataclass
class DeliveryResult:
    """How a delivery went: one outcome per attempt (a status code or an
    error)."""

    delivered: bool
    outcomes: list[int | str]


def post_once(url: str, body: bytes, header: str, timeout: float) -> int | str:
    """One attempt: the status code, or the name of the error that stopped it.

    http.client, not the core's `call`: a sender posts to any URL a customer
    registered, not to a server of ours, and a refused connection or a timeout
    is an outcome to retry, not an exception.
    """
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=timeout
    )
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: header}
    try:
        connection.request("POST", parts.path or "/", body, headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


def deliver(
    url: str,
    event: dict,
    secrets: list[bytes],
    *,
    max_attempts: int = 5,
    base: float = 1.0,
    cap: float = 60.0,
    rand: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    timeout: float = TIMEOUT,
) -> DeliveryResult:
    """POST the event until a 2xx, a 410, or `max_attempts`; re-sign each
    attempt."""
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    delays = backoff_delays(max_attempts, base, cap, rand or random.Random())
    outcomes: list[int | str] = []
    for attempt in range(max_attempts):
        # a fresh timestamp
        header = signature_header(body, secrets, int(clock()))
        outcome = post_once(url, body, header, timeout)
        outcomes.append(outcome)
        if isinstance(outcome, int) and 200 <= outcome < 300:
            return DeliveryResult(True, outcomes)
        if outcome == 410 or attempt == max_attempts - 1:  # 410: unsubscribed
            break
        sleep(delays[attempt])
    return DeliveryResult(False, outcomes)


# --8<-- [end:sender]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_sign]
    # 32+ random bytes in real life
    secret = b"whsec-demo-0123456789abcdef0123456789"
    body = b'{"id":"evt_1","type":"invoice.paid","data":{"invoice":"in_42"}}'
    header = signature_header(body, [secret], timestamp=1_700_000_000)
    print(header[:28] + "...")
    #> t=1700000000,v1=f146ab77a8e4...
    # --8<-- [end:demo_sign]
    # --8<-- [start:demo_verify]
    print(verify(body, header, [secret], now=1_700_000_030))  # 30 s later: fine
    #> 1700000000
    # --8<-- [end:demo_verify]
    # --8<-- [start:demo_refuse]
    seen = SeenIds()
    # the first delivery
    accept(body, header, [secret], seen, now=1_700_000_030)
    attempts = {
        "tampered body": (
            body.replace(b"in_42", b"in_99"),
            header,
            1_700_000_030,
        ),
        "wrong secret": (
            body,
            signature_header(body, [b"guess"], 1_700_000_000),
            1_700_000_030,
        ),
        "replayed": (body, header, 1_700_000_031),
        "stale": (body, header, 1_700_000_000 + 301),
        "future": (body, header, 1_700_000_000 - 301),
    }
    for name, (data, signature, now) in attempts.items():
        try:
            accept(data, signature, [secret], seen, now)
        except WebhookRejected as refused:
            print(f"{name:13} {type(refused).__name__}: {refused}")
            #> tampered body SignatureMismatch: no v1 signature matches
            #> wrong secret  SignatureMismatch: no v1 signature matches
            #> replayed      DuplicateDelivery: event evt_1 was already accepted
            #> stale         StaleTimestamp: signed 301 s ago, tolerance 300 s
            #> future        FutureTimestamp: signed 301 s in the future
    # --8<-- [end:demo_refuse]
    # --8<-- [start:demo_backoff]
    print([round(d, 2) for d in backoff_delays(6, 1.0, 60.0, random.Random(7))])
    #> [0.32, 0.3, 2.6, 0.58, 8.57]
    # --8<-- [end:demo_backoff]
    # --8<-- [start:demo_deliver]
    receiver = WebhookReceiver([secret], fail_first=2)  # down for two requests
    with serving(receiver) as server:
        result = deliver(
            url_of(server),
            {"id": "evt_2", "type": "invoice.paid"},
            [secret],
            base=0.05,
            rand=random.Random(7),
        )
    print(result)
    #> DeliveryResult(delivered=True, outcomes=[503, 503, 202])
    print(receiver.attempts, [event["id"] for event in receiver.events])
    #> 3 ['evt_2']
    # --8<-- [end:demo_deliver]
    # --8<-- [start:demo_rotate]
    new = b"whsec-rotated-fedcba9876543210fedcba98"
    receiver = WebhookReceiver([new, secret])  # accepts either, for a while
    with serving(receiver) as server:
        old_sender = deliver(url_of(server), {"id": "evt_3"}, [secret])
        both = deliver(url_of(server), {"id": "evt_4"}, [new, secret])
    print(old_sender.delivered, both.delivered, receiver.refusals)
    #> True True []
    # --8<-- [end:demo_rotate]
