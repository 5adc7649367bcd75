"""The webhooks page's claims: signed deliveries, refusals with reasons, retries.

Oracles: the signature is recomputed here independently with hmac, and checked with a
verifier written from Stripe's documented scheme (`t=` and `v1=` over
`timestamp.payload`, any matching v1 accepted, a tolerance on old timestamps). A real
sender (http.client) and a real receiver (a core handler, run with `serving` on the
chapter 1 message server) talk over loopback; the tests' own requests use the shared
client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application import webhooks as wh
from snippets.application.app_core import MAX_BODY, serving
from tests.helpers import http_request, raw_exchange

SECRET = b"s" * 32
NEW_SECRET = b"n" * 32
T = 1_700_000_000
BODY = b'{"id":"evt_1","type":"invoice.paid"}'


def stripe_style_verify(
    payload: bytes, header: str, secret: bytes, tolerance: int, now: float
) -> bool:
    """Stripe's documented check, written independently: split on ',', then '=';
    t is the timestamp, every v1 is a candidate; HMAC-SHA256 of `t.payload` in hex."""
    items = [item.split("=", 1) for item in header.split(",")]
    timestamp = int(next(value for key, value in items if key == "t"))
    candidates = [value for key, value in items if key == "v1"]
    expected = hmac.new(
        secret, f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    matched = any(hmac.compare_digest(expected, c) for c in candidates)
    return matched and timestamp >= now - tolerance


# --- signing and verifying -----------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert wh.sign(BODY, SECRET, T) == expected
    assert wh.signature_header(BODY, [SECRET], T) == f"t={T},v1={expected}"


def test_our_header_passes_a_stripe_style_verifier() -> None:
    header = wh.signature_header(BODY, [NEW_SECRET, SECRET], T)
    for secret in (SECRET, NEW_SECRET):
        assert stripe_style_verify(BODY, header, secret, 300, now=T + 10)
    assert not stripe_style_verify(BODY + b" ", header, SECRET, 300, now=T + 10)
    assert not stripe_style_verify(BODY, header, b"x" * 32, 300, now=T + 10)


def test_a_valid_delivery_verifies_and_returns_its_timestamp() -> None:
    header = wh.signature_header(BODY, [SECRET], T)
    assert wh.verify(BODY, header, [SECRET], now=T) == T
    assert wh.verify(BODY, header, [SECRET], now=T + 300) == T
    assert wh.verify(BODY, header, [SECRET], now=T - 300) == T


def test_other_schemes_in_the_header_are_ignored() -> None:
    """Stripe adds a v0 signature in test mode; verifiers use v1 only."""
    header = wh.signature_header(BODY, [SECRET], T) + ",v0=" + "0" * 64 + ",v2=abc"
    assert wh.verify(BODY, header, [SECRET], now=T) == T


def accept(body: bytes, header: str, secrets=(SECRET,), seen=None, now: float = T):
    return wh.accept(body, header, list(secrets), seen or wh.SeenIds(), now)


REFUSALS = {
    "tampered body": (
        lambda: (
            BODY.replace(b"paid", b"void"),
            wh.signature_header(BODY, [SECRET], T),
        ),
        T,
        wh.SignatureMismatch,
        "no v1 signature matches",
    ),
    "tampered signature": (
        lambda: (BODY, wh.signature_header(BODY, [SECRET], T)[:-1] + "0"),
        T,
        wh.SignatureMismatch,
        "no v1 signature matches",
    ),
    "tampered timestamp": (
        lambda: (
            BODY,
            wh.signature_header(BODY, [SECRET], T).replace(f"t={T}", f"t={T + 1}"),
        ),
        T,
        wh.SignatureMismatch,
        "no v1 signature matches",
    ),
    "wrong secret": (
        lambda: (BODY, wh.signature_header(BODY, [b"w" * 32], T)),
        T,
        wh.SignatureMismatch,
        "no v1 signature matches",
    ),
    "stale": (
        lambda: (BODY, wh.signature_header(BODY, [SECRET], T)),
        T + 301,
        wh.StaleTimestamp,
        "signed 301 s ago, tolerance 300 s",
    ),
    "future-dated": (
        lambda: (BODY, wh.signature_header(BODY, [SECRET], T)),
        T - 301,
        wh.FutureTimestamp,
        "signed 301 s in the future",
    ),
    "no header": (lambda: (BODY, ""), T, wh.MalformedHeader, "need one t="),
    "header too long": (
        lambda: (BODY, f"t={T}," + "x" * wh.MAX_HEADER),
        T,
        wh.MalformedHeader,
        "too long",
    ),
    "no signature": (lambda: (BODY, f"t={T}"), T, wh.MalformedHeader, "need one t="),
    "no timestamp": (
        lambda: (BODY, "v1=" + wh.sign(BODY, SECRET, T)),
        T,
        wh.MalformedHeader,
        "need one t=",
    ),
    "two timestamps": (
        lambda: (BODY, f"t={T}," + wh.signature_header(BODY, [SECRET], T)),
        T,
        wh.MalformedHeader,
        "repeated",
    ),
    "uppercase hex": (
        lambda: (BODY, f"t={T},v1=" + wh.sign(BODY, SECRET, T).upper()),
        T,
        wh.MalformedHeader,
        "64 lowercase hex",
    ),
    "five signatures": (
        lambda: (BODY, wh.signature_header(BODY, [SECRET] * 5, T)),
        T,
        wh.MalformedHeader,
        "1 to 4",
    ),
    "not JSON": (
        lambda: (b"hello", wh.signature_header(b"hello", [SECRET], T)),
        T,
        wh.WebhookRejected,
        "not JSON",
    ),
    "no id": (
        lambda: (b'{"type":"x"}', wh.signature_header(b'{"type":"x"}', [SECRET], T)),
        T,
        wh.WebhookRejected,
        "no string id",
    ),
}


@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_bad_deliveries_are_refused_with_a_clear_reason(case: str) -> None:
    make, now, error, reason = REFUSALS[case]
    body, header = make()
    with pytest.raises(error, match=reason):
        accept(body, header, now=now)


def test_a_replayed_delivery_is_refused_as_a_duplicate() -> None:
    seen = wh.SeenIds()
    header = wh.signature_header(BODY, [SECRET], T)
    assert accept(BODY, header, seen=seen)["id"] == "evt_1"
    with pytest.raises(wh.DuplicateDelivery, match="evt_1 was already accepted"):
        accept(BODY, header, seen=seen, now=T + 5)  # the same request, captured


def test_a_retry_with_a_fresh_signature_is_still_a_duplicate() -> None:
    seen = wh.SeenIds()
    accept(BODY, wh.signature_header(BODY, [SECRET], T), seen=seen)
    later = wh.signature_header(BODY, [SECRET], T + 3600)
    with pytest.raises(wh.DuplicateDelivery):
        accept(BODY, later, seen=seen, now=T + 3600)


def test_the_signature_is_checked_before_the_id_is_recorded() -> None:
    """An attacker must not be able to fill the store with IDs of future events."""
    seen = wh.SeenIds()
    forged = b'{"id":"evt_9"}'
    with pytest.raises(wh.SignatureMismatch):
        accept(forged, wh.signature_header(forged, [b"w" * 32], T), seen=seen)
    assert (
        accept(forged, wh.signature_header(forged, [SECRET], T), seen=seen)["id"]
        == "evt_9"
    )


def test_secret_rotation_accepts_either_secret_for_a_while() -> None:
    both = wh.signature_header(BODY, [NEW_SECRET, SECRET], T)
    old_only = wh.signature_header(BODY, [SECRET], T)
    new_only = wh.signature_header(BODY, [NEW_SECRET], T)
    for secrets, header in [
        ([SECRET], both),  # receiver not yet updated, sender already signs twice
        ([NEW_SECRET], both),  # receiver updated first
        (
            [NEW_SECRET, SECRET],
            old_only,
        ),  # receiver accepts both, sender not yet updated
        ([NEW_SECRET, SECRET], new_only),
    ]:
        assert wh.verify(BODY, header, secrets, now=T) == T
    with pytest.raises(wh.SignatureMismatch):
        wh.verify(BODY, old_only, [NEW_SECRET], now=T)  # after the old one is retired


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(wh.hmac, "compare_digest", spy)
    with pytest.raises(wh.SignatureMismatch):
        wh.verify(
            BODY, wh.signature_header(BODY, [b"w" * 32, SECRET], T), [NEW_SECRET], T
        )
    assert len(calls) == 2  # our one secret against each of the two signatures


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_header_is_parsed_or_refused_never_a_crash(header: str) -> None:
    try:
        timestamp, signatures = wh.parse_signature_header(header)
    except wh.MalformedHeader:
        return
    assert timestamp >= 0
    assert 1 <= len(signatures) <= wh.MAX_SIGNATURES


@settings(max_examples=100)
@given(st.binary(max_size=200), st.integers(0, 2**33))
def test_any_body_and_timestamp_round_trip(body: bytes, timestamp: int) -> None:
    header = wh.signature_header(body, [SECRET], timestamp)
    assert wh.verify(body, header, [SECRET], now=timestamp) == timestamp


@settings(max_examples=100)
@given(st.data())
def test_any_single_byte_change_to_the_body_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(BODY) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != BODY[index]))
    changed = BODY[:index] + bytes([byte]) + BODY[index + 1 :]
    with pytest.raises(wh.SignatureMismatch):
        wh.verify(changed, wh.signature_header(BODY, [SECRET], T), [SECRET], now=T)


# --- the seen-ID store -----------------------------------------------------------------


def test_seen_ids_are_forgotten_after_the_retention() -> None:
    seen = wh.SeenIds(retention=600)
    assert seen.add("a", now=0)
    assert not seen.add("a", now=599)
    assert seen.add("a", now=600)


def test_the_seen_id_store_is_bounded() -> None:
    seen = wh.SeenIds(capacity=3)
    for i in range(10):
        assert seen.add(f"e{i}", now=0)
    assert len(seen._expires) == 3
    assert seen.add("e0", now=1)  # evicted long ago: accepted again
    assert not seen.add("e9", now=1)


def test_the_default_retention_outlasts_the_tolerance_window() -> None:
    """Replay protection needs IDs kept for 2 * tolerance at least; idempotency for
    retries needs them kept for as long as the sender retries."""
    assert wh.SeenIds().retention >= 2 * wh.TOLERANCE


# --- backoff ------------------------------------------------------------------------------


def test_the_schedule_is_deterministic_for_a_seeded_random_source() -> None:
    first = wh.backoff_delays(6, 1.0, 60.0, random.Random(7))
    assert first == wh.backoff_delays(6, 1.0, 60.0, random.Random(7))
    check = random.Random(7)
    assert first == [check.random() * min(60.0, 2.0**i) for i in range(5)]
    assert [round(d, 2) for d in first] == [0.32, 0.3, 2.6, 0.58, 8.57]


@settings(max_examples=100)
@given(
    st.integers(1, 12),
    st.floats(0.01, 10),
    st.floats(0.01, 120),
    st.integers(0, 2**32),
)
def test_every_delay_stays_under_its_exponential_ceiling(
    attempts: int, base: float, cap: float, seed: int
) -> None:
    delays = wh.backoff_delays(attempts, base, cap, random.Random(seed))
    assert len(delays) == attempts - 1
    for i, delay in enumerate(delays):
        assert 0 <= delay < min(cap, base * 2**i) or delay == 0


def test_jitter_spreads_senders_that_failed_together() -> None:
    schedules = {
        tuple(wh.backoff_delays(4, 1.0, 60.0, random.Random(s))) for s in range(50)
    }
    assert len(schedules) == 50


# --- a real sender and receiver on loopback ------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_a_receiver_that_fails_twice_gets_the_delivery_on_the_third_attempt() -> None:
    sleeps = Sleeps()
    receiver = wh.WebhookReceiver([SECRET], fail_first=2)
    with serving(receiver) as server:
        result = wh.deliver(
            wh.url_of(server),
            {"id": "evt_2"},
            [SECRET],
            rand=random.Random(7),
            sleep=sleeps,
        )
    assert result == wh.DeliveryResult(True, [503, 503, 202])
    assert receiver.events == [{"id": "evt_2"}]
    assert sleeps.calls == wh.backoff_delays(5, 1.0, 60.0, random.Random(7))[:2]


def test_attempts_are_bounded_when_the_receiver_never_recovers() -> None:
    sleeps = Sleeps()
    receiver = wh.WebhookReceiver([SECRET], fail_first=100)
    with serving(receiver) as server:
        result = wh.deliver(
            wh.url_of(server), {"id": "e"}, [SECRET], max_attempts=4, sleep=sleeps
        )
    assert result == wh.DeliveryResult(False, [503] * 4)
    assert receiver.attempts == 4
    assert len(sleeps.calls) == 3  # no wait after the last attempt


def test_each_attempt_is_signed_with_a_fresh_timestamp() -> None:
    """A retry after a long backoff must not arrive stale."""
    clock = [float(T)]

    def sleep(seconds: float) -> None:
        clock[0] += 1000  # far longer than the tolerance

    receiver = wh.WebhookReceiver([SECRET], clock=lambda: clock[0], fail_first=2)
    with serving(receiver) as server:
        result = wh.deliver(
            wh.url_of(server),
            {"id": "evt_5"},
            [SECRET],
            sleep=sleep,
            clock=lambda: clock[0],
        )
    assert result.delivered
    assert receiver.refusals == []


def test_an_unreachable_receiver_is_retried_and_reported() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    result = wh.deliver(
        f"http://127.0.0.1:{port}/webhooks",
        {"id": "e"},
        [SECRET],
        max_attempts=3,
        sleep=sleeps,
    )
    assert result == wh.DeliveryResult(False, ["ConnectionRefusedError"] * 3)
    assert len(sleeps.calls) == 2


def test_410_gone_stops_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = iter([503, 410, 202])
    monkeypatch.setattr(wh, "post_once", lambda *args: next(outcomes))
    result = wh.deliver("http://127.0.0.1:9/x", {"id": "e"}, [SECRET], sleep=Sleeps())
    assert result == wh.DeliveryResult(False, [503, 410])


def signed(body: bytes, timestamp: int = T, secret: bytes = SECRET) -> dict[str, str]:
    return {wh.SIGNATURE_HEADER: wh.signature_header(body, [secret], timestamp)}


def answer(server, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST one delivery; the status and the reason (a problem's detail, or text)."""
    reply = http_request(server, "POST", "/webhooks", body=body, headers=headers)
    if reply.header("Content-Type") == "application/problem+json":
        return reply.status, reply.json()["detail"]
    return reply.status, reply.text


def test_the_receiver_refuses_bad_deliveries_over_http_with_the_reason() -> None:
    clock = [float(T)]
    receiver = wh.WebhookReceiver([SECRET], clock=lambda: clock[0])
    with serving(receiver) as server:
        answers = [
            answer(server, BODY, signed(BODY)),
            answer(server, BODY, signed(BODY)),  # replayed
            answer(server, BODY + b" ", signed(BODY)),  # tampered body
            answer(server, BODY, signed(BODY, secret=b"w" * 32)),
            answer(server, BODY, {}),  # unsigned
        ]
        clock[0] = T + 400
        answers.append(answer(server, b'{"id":"evt_7"}', signed(b'{"id":"evt_7"}')))
        clock[0] = T - 400
        answers.append(answer(server, b'{"id":"evt_8"}', signed(b'{"id":"evt_8"}')))
    assert answers == [
        (202, "accepted"),
        (200, "event evt_1 was already accepted"),
        (400, "no v1 signature matches"),
        (400, "no v1 signature matches"),
        (400, "need one t= and 1 to 4 v1= signatures"),
        (400, "signed 400 s ago, tolerance 300 s"),
        (400, "signed 400 s in the future"),
    ]
    assert receiver.events == [json.loads(BODY)]
    assert len(receiver.refusals) == 5


def test_a_replay_captured_byte_for_byte_is_acknowledged_not_processed() -> None:
    """The diagram's last step: the attacker resends the exact request bytes."""
    receiver = wh.WebhookReceiver([SECRET], clock=lambda: T)
    header = wh.signature_header(BODY, [SECRET], T)
    request = (
        f"POST /webhooks HTTP/1.1\r\nHost: receiver\r\n"
        f"{wh.SIGNATURE_HEADER}: {header}\r\nContent-Length: {len(BODY)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode() + BODY
    with serving(receiver) as server:
        first = raw_exchange(server.server_address, request)
        replayed = raw_exchange(server.server_address, request)
    assert first.startswith(b"HTTP/1.1 202 ")
    assert replayed.startswith(b"HTTP/1.1 200 ")
    assert replayed.endswith(b"event evt_1 was already accepted")
    assert receiver.events == [json.loads(BODY)]


def test_two_signature_lines_are_refused_not_mixed() -> None:
    """The core joins repeated fields with ", ": two t= are then refused."""
    receiver = wh.WebhookReceiver([SECRET], clock=lambda: T)
    (header,) = signed(BODY).values()
    lines = [(wh.SIGNATURE_HEADER, header), (wh.SIGNATURE_HEADER, header)]
    with serving(receiver) as server:
        reply = http_request(server, "POST", "/webhooks", body=BODY, headers=lines)
    assert (reply.status, reply.json()["detail"]) == (
        400,
        "bad or repeated t='1700000000'",
    )


def test_the_receiver_takes_only_posts_of_a_bounded_size() -> None:
    """Only POST; a body over the core's limit is refused before the receiver runs."""
    receiver = wh.WebhookReceiver([SECRET])
    with serving(receiver) as server:
        get = http_request(server, "GET", "/webhooks")
        too_big = http_request(server, "POST", "/webhooks", body=b"x" * (MAX_BODY + 1))
    assert (get.status, get.header("Allow")) == (405, "POST")
    assert too_big.status == 413
    assert receiver.attempts == 0


def test_rotation_over_http() -> None:
    with serving(wh.WebhookReceiver([NEW_SECRET, SECRET])) as server:
        url = wh.url_of(server)
        old = wh.deliver(url, {"id": "a"}, [SECRET], sleep=Sleeps())
        both = wh.deliver(url, {"id": "b"}, [NEW_SECRET, SECRET], sleep=Sleeps())
    with serving(wh.WebhookReceiver([NEW_SECRET])) as server:
        retired = wh.deliver(wh.url_of(server), {"id": "c"}, [SECRET], max_attempts=1)
    assert (old.delivered, both.delivered, retired.outcomes) == (True, True, [400])
