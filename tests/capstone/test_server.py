"""`python -m snippets.capstone` as a reader starts it: the requests the page
shows with curl, sent here with urllib; and the game day of a SIGTERM under
load, where no accepted request is lost: every answer is a 201, every 201 is
an order in SQLite (the oracle), and the process exits 0 after draining."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from snippets.capstone.dependency import spawned
from snippets.capstone.server import GRACE


def token_of(process) -> str:
    return process.stdout.readline().split()[-1]


def test_the_pages_curl_requests_get_the_pages_answers(tmp_path):
    log = tmp_path / "log.jsonl"
    with spawned(
        "snippets.capstone", "--folder", str(tmp_path), "--log", str(log)
    ) as orders:
        base = "http://{}:{}".format(*orders.address)
        token = token_of(orders.process)

        def fetch(path, data=None, headers=None, method=None):
            request = urllib.request.Request(
                base + path, data, headers or {}, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as reply:
                    return reply.status, dict(reply.headers), reply.read()
            except urllib.error.HTTPError as error:  # 3xx, 4xx and 5xx
                return error.code, dict(error.headers), error.read()

        order = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": '"3f1b2c9e-5d6a-4e7f-8a9b-0c1d2e3f4a5b"',
        }
        body = b'{"item": "teapot", "quantity": 2}'
        created = fetch("/orders", body, order)
        again = fetch("/orders", body, order)
        shown = fetch("/orders/1")
        cached = fetch("/orders/1", headers={"If-None-Match": shown[1]["ETag"]})
        metrics = fetch("/metrics")
        health = [fetch(p)[0] for p in ("/livez", "/readyz")]
    assert created[0] == 201
    assert created[2] == again[2]
    assert json.loads(shown[2])["price_cents"] == 500
    assert cached[0] == 304
    assert b'http_requests_total{method="POST",code="201"} 2' in metrics[2]
    assert health == [200, 200]
    assert orders.process.returncode == 0


def test_game_day_sigterm_under_load_loses_no_accepted_request(tmp_path):
    log = tmp_path / "log.jsonl"
    args = ("--folder", str(tmp_path), "--log", str(log), "--delay", "0.2")
    with spawned("snippets.capstone", *args) as orders:
        token, stop = token_of(orders.process), threading.Event()
        answers, lock = [], threading.Lock()

        def client(n: int) -> str:
            """Order until the server goes; how the last attempt ended."""
            sent = 0
            while not stop.is_set():
                sent += 1
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f'"c{n}-{sent}"',
                }
                conn = http.client.HTTPConnection(*orders.address, timeout=GRACE)
                try:
                    body = b'{"item": "cup", "quantity": 1}'
                    conn.request("POST", "/orders", body, headers)
                    status = conn.getresponse().status
                except ConnectionRefusedError:  # the port is closed
                    return "refused"
                except (ConnectionResetError, http.client.RemoteDisconnected):
                    # in the kernel's backlog when the listening socket
                    # closed: never accepted, so never handled
                    return "reset before accept"
                finally:
                    conn.close()
                with lock:
                    answers.append(status)
            return "stopped"

        with ThreadPoolExecutor(max_workers=6) as pool:
            ends = [pool.submit(client, n) for n in range(6)]
            time.sleep(0.6)  # load for a while: 6 clients, 0.2 s per order
            orders.process.send_signal(signal.SIGTERM)
            status = orders.process.wait(timeout=GRACE + 5)
            stop.set()
            endings = {end.result(timeout=GRACE) for end in ends}
        said = orders.process.stdout.read()
    conn = sqlite3.connect(tmp_path / "orders.db")
    stored = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    conn.close()
    assert status == 0
    assert "drained" in said
    assert answers
    assert set(answers) == {201}  # every accepted request was answered
    assert stored == len(answers)  # and each answer is a stored order
    assert endings <= {"refused", "reset before accept"}
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["message"] == "SIGTERM: draining" for line in lines)
