"""What two parts' tests share: an items store in memory.

`pagination` pages through it, and `items_server`'s `ItemsApi` creates items in it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from snippets.application.api_design.pagination import open_store


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = open_store()
    yield connection
    connection.close()
