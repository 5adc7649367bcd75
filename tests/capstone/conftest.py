"""What the capstone's tests share: the pricing dependency (a real second
process), and an orders service built on it in a fresh folder."""

from __future__ import annotations

import contextlib
import io
import json
import secrets

import pytest

from snippets.application.app_core import serving
from snippets.capstone.app import Config, build, token_for
from snippets.capstone.dependency import set_delay, spawned
from snippets.capstone.telemetry import json_logs


@pytest.fixture(scope="module")
def pricing_process():
    with spawned("snippets.capstone.dependency", "serve") as pricing:
        yield pricing


@pytest.fixture
def pricing(pricing_process):
    set_delay(pricing_process.address, 0.0)
    yield pricing_process
    set_delay(pricing_process.address, 0.0)


class Running:
    """A service on loopback, its parts, a token, and its JSON log lines."""

    def __init__(self, server, service, secret: bytes, stream, folder) -> None:
        self.server, self.service, self.stream = server, service, stream
        self.db = f"{folder}/orders.db"
        self.token = token_for("ada", secret)
        self.bearer = ("Authorization", f"Bearer {self.token}")

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def orders(pricing, tmp_path):
    """`orders(**config)`: a context manager that runs the service."""

    @contextlib.contextmanager
    def start(**options):
        secret = secrets.token_bytes(32)
        config = Config(str(tmp_path), pricing.address, secret, **options)
        service, stream = build(config), io.StringIO()
        try:
            with json_logs(stream), serving(service.handler) as server:
                yield Running(server, service, secret, stream, tmp_path)
        finally:
            service.close()

    return start
