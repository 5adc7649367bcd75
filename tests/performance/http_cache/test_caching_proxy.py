"""What the HTTP caching page claims about the proxy, asserted.

The proxy runs on loopback in front of a real origin (both on the application
core's `serving`), with a driven clock: the counts are exact, not timed. The
oracle for the decisions it makes is in test_decisions.py; here the claim is
what the origin sees.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from snippets.application.app_core import call, serving
from snippets.performance.http_cache.caching_proxy import (
    CachingProxy,
    DrivenClock,
    Origin,
    drive,
)
from snippets.performance.http_cache.decisions import format_date


@pytest.mark.parametrize(("max_age", "expected"), [(10, 10), (25, 4)])
def test_origin_is_asked_once_per_max_age_for_1000_gets(max_age, expected) -> None:
    answered = drive(1000, 0.1, f"max-age={max_age}")  # 100 s of clock
    assert answered.total() == expected
    assert answered[200] == 1  # the rest were 304s: the body never changed


@pytest.mark.parametrize(
    ("policy", "full", "not_modified"),
    [("no-store", 50, 0), ("no-cache", 1, 49), ("private, max-age=60", 50, 0)],
)
def test_no_store_no_cache_and_private(policy, full, not_modified) -> None:
    answered = drive(50, 0.1, policy)
    assert (answered[200], answered[304]) == (full, not_modified)


class Rig:
    """An origin and a proxy on loopback, sharing a driven clock."""

    def __init__(self, stack, cache_control="max-age=10") -> None:
        self.clock = DrivenClock()
        self.origin = Origin(self.clock, cache_control)
        self.upstream = stack.enter_context(serving(self.origin))
        self.proxy = stack.enter_context(
            serving(CachingProxy(self.upstream, self.clock))
        )

    def get(self, after: float = 0, headers=()):
        self.clock.now += after
        return call(self.proxy, "GET", "/page", headers=list(headers))


@pytest.fixture
def rig():
    with ExitStack() as stack:
        yield Rig(stack)


def test_a_hit_carries_its_age(rig) -> None:
    rig.get()
    reply = rig.get(after=3)
    assert reply.header("Age") == "3"
    assert rig.origin.answered.total() == 1


def test_a_304_updates_the_stored_fields(rig) -> None:
    rig.get()
    rig.origin.cache_control = "max-age=100"
    reply = rig.get(after=15)  # stale: validated, 304
    assert rig.origin.answered[304] == 1
    assert reply.body == b"version 1\n"
    assert reply.header("Cache-Control") == "max-age=100"
    assert reply.header("Date") == format_date(rig.clock.now)
    rig.get(after=90)  # fresh for 100 s from the 304, not 10 from the 200
    assert rig.origin.answered.total() == 2


def test_a_changed_etag_brings_the_new_body(rig) -> None:
    rig.get()
    rig.origin.edit()
    assert rig.get(after=5).body == b"version 1\n"  # fresh: still the old one
    assert rig.get(after=6).body == b"version 2\n"
    assert rig.origin.answered[200] == 2


def test_vary_keeps_one_variant_per_language(rig) -> None:
    for language in ["en", "fr", "en", "fr", "en"]:
        rig.get(headers=[("Accept-Language", language)])
    assert rig.origin.answered.total() == 2


def test_vary_star_never_matches(rig) -> None:
    rig.origin.vary = "*"
    for _ in range(3):
        rig.get()
    assert rig.origin.answered[200] == 3  # each one a miss: no 304 either


def test_a_request_with_authorization_is_not_stored_unless_allowed(rig) -> None:
    for _ in range(2):
        rig.get(headers=[("Authorization", "Bearer x")])
    assert rig.origin.answered.total() == 2
    rig.origin.cache_control = "public, max-age=10"
    for _ in range(2):
        rig.get(headers=[("Authorization", "Bearer x")])
    assert rig.origin.answered.total() == 3


def test_a_post_invalidates_the_stored_response(rig) -> None:
    rig.get()
    call(rig.proxy, "POST", "/page", b"x")
    rig.get()
    assert rig.origin.answered[200] == 3


@pytest.mark.parametrize(
    ("cache_control", "after", "status"),
    [
        ("max-age=10, stale-if-error=60", 30, 200),  # within the window
        ("max-age=10, stale-if-error=60", 80, 504),  # past it
        ("max-age=10, stale-if-error=60, must-revalidate", 30, 504),
        ("max-age=10", 30, 504),  # stale is not served unless allowed
    ],
)
def test_stale_if_error_and_must_revalidate(cache_control, after, status) -> None:
    clock = DrivenClock()
    origin = Origin(clock, cache_control)
    with serving(origin) as upstream:
        proxy = CachingProxy(upstream, clock)
        with serving(proxy) as front:
            assert call(front, "GET", "/page").status == 200
    with serving(proxy) as front:  # the origin has gone: connection refused
        clock.now += after
        assert call(front, "GET", "/page").status == status
