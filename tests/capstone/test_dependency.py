"""The pricing dependency is a real second process whose delay a test sets,
and `spawned` stops what it started, within a bound."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from snippets.capstone.dependency import PRICE_CENTS, set_delay, spawned
from snippets.reliability.circuit_breakers import ask


def test_the_dependency_answers_a_price_and_slows_down_when_told(pricing):
    target = SimpleNamespace(server_address=pricing.address)
    assert ask(target) == str(PRICE_CENTS)
    set_delay(pricing.address, 0.3)
    start = time.monotonic()
    assert ask(target, timeout=2.0) == str(PRICE_CENTS)
    assert time.monotonic() - start >= 0.3
    with pytest.raises(ConnectionError, match="in time"):
        ask(target, timeout=0.05)


def test_a_bad_delay_is_refused(pricing):
    with pytest.raises(RuntimeError, match="400"):
        set_delay(pricing.address, "soon")  # type: ignore[arg-type]


def test_spawned_stops_its_process_and_refuses_one_that_never_listens():
    with spawned("snippets.capstone.dependency", "serve") as pricing:
        assert pricing.process.poll() is None
    assert pricing.process.returncode is not None
    never = spawned("snippets.capstone.store")  # prints, never listens
    with pytest.raises(RuntimeError, match="exited before listening"), never:
        pass
