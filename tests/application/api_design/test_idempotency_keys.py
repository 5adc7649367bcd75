"""The idempotency keys part's claims: a key whose first request still runs is 409, and
a new item's body is parsed strictly (400 for bytes that are not JSON, 422 with a JSON
Pointer for each bad field). Replays, 422 for another body, crashes and racing retries
are tested through `ItemsApi.create`, in test_items_server.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snippets.application.api_design import idempotency_keys
from snippets.application.api_design.idempotency_keys import (
    IdempotencyStore,
    parse_new_item,
)
from snippets.application.api_design.pagination import ApiError
from tests.helpers import run_demo


def test_a_key_still_in_flight_is_409() -> None:
    store = IdempotencyStore()
    assert store.begin('"k"', b"{}") is None  # the first request is running
    assert store.begin('"k"', b"{}").status == 409


@pytest.mark.parametrize(
    ("body", "status", "pointers"),
    [
        (b"{", 400, None),
        (b"[" * 5000 + b"]" * 5000, 400, None),
        (b"[]", 422, None),
        (b'{"title": "x", "status": "deleted"}', 422, ["/status"]),
        (b'{"title": "x", "a/b~": 1}', 422, ["/a~1b~0"]),
        (b'{"title": ""}', 422, ["/title"]),
    ],
)
def test_new_items_are_parsed_strictly(body: bytes, status: int, pointers) -> None:
    with pytest.raises(ApiError) as caught:
        parse_new_item(body)
    assert caught.value.status == status
    if pointers is not None:
        assert [e["pointer"] for e in caught.value.errors] == pointers


def test_the_demo_runs_clean_and_prints_what_its_comments_say() -> None:
    """The page does not show this demo, so its `#>` lines are checked here."""
    done = run_demo("snippets.application.api_design.idempotency_keys", check=True)
    assert done.stderr == ""
    source = Path(idempotency_keys.__file__).read_text(encoding="utf-8")
    assert done.stdout.splitlines() == re.findall(r"^ *#> (.*)$", source, re.M)
