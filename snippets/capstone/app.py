"""The orders service, assembled: the router, validation, the service and its
repository, authentication for writes, the idempotent `POST /orders`, the
cached `GET /orders/{id}`, a rate limiter, deadlines, a circuit breaker around
the pricing dependency, logs, metrics, traces and health, each imported from
the chapter that built it.

What it teaches: what the chapters' middleware look like stacked in one
order, and why that order. Outermost are the endpoints a machine scrapes
(`/metrics`, `/livez`, `/readyz`), so scrapes and probes neither count as
traffic nor wait behind a rate limit. Then the RED metrics, which count every
request that any inner layer answers; the server span, inside which every
later log line runs; the request id, the access log and the error handler
(a bug becomes a 500 that is logged with its trace id); the deadline;
authentication (writes need a bearer token); the rate limiter, keyed by the
verified subject; the translation of refusals into problem details; and
last the router. `build` returns the handler and the parts a test inspects.

Read first: the middleware page (`docs/application/middleware.md`,
"Middleware and request context") and the pages of the modules imported
below: this module builds on `snippets.application.app_core`,
`snippets.application.routing`, `snippets.application.middleware`,
`snippets.application.validation.json_decoding`,
`snippets.application.authentication.jwt_by_hand`,
`snippets.reliability.rate_limiting`, `snippets.reliability.circuit_breakers`,
`snippets.communication.apis` (ETags), `snippets.observability.metrics`,
`snippets.observability.health`, `snippets.observability.tracing` and the
capstone's `store`, `telemetry` and `worker`.

What it leaves out: TLS, authorisation beyond "a valid token may order", a
shared rate limit across processes, and configuration from the environment
(the page lists what production would add).

Run it: `python -m snippets.capstone.app`.
"""

from __future__ import annotations

# --8<-- [start:config]
import sqlite3
from dataclasses import dataclass

from snippets.application.authentication.jwt_by_hand import encode_jwt

ISSUER, AUDIENCE = "https://auth.example", "orders"


@dataclass
class Config:
    folder: str  # orders.db, broker.db and shipping.db live here
    dependency: tuple[str, int]  # the pricing service's address
    secret: bytes  # the HS256 key tokens are signed with
    rate: float = 200.0  # requests a second per subject, in the long run
    burst: int = 400  # requests a subject may send at once
    deadline: float = 2.0  # seconds a request may take, all in
    call_timeout: float = 0.25  # seconds one pricing call may take
    fail_max: int = 3  # failed calls in a row that open the breaker
    reset_timeout: float = 1.0  # seconds the breaker stays open
    worker: bool = True  # run the outbox worker in a thread


def token_for(subject: str, secret: bytes, lifetime: float = 3600) -> str:
    """A bearer token, as the identity provider would issue it."""
    import time

    now = int(time.time())
    claims = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now}
    return encode_jwt({**claims, "exp": now + int(lifetime)}, secret)


# --8<-- [end:config]


# --8<-- [start:auth]
import contextvars

from snippets.application.app_core import Handler, Middleware, Request
from snippets.application.authentication.jwt_by_hand import (
    TokenError,
    decode_jwt,
)
from snippets.application.validation.problem_details import Problem

subject_var = contextvars.ContextVar("subject", default="anonymous")
READS = {"GET", "HEAD"}


def authenticated(secret: bytes) -> Middleware:
    """Writes need a valid bearer token (RFC 6750); its subject is kept."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request):
            scheme, _, token = (
                request.header("Authorization") or ""
            ).partition(" ")
            if scheme.lower() != "bearer" or not token:
                if request.method in READS:
                    return handler(request)
                challenge = 'Bearer realm="orders"'
                return Problem(401, "send a bearer token").response(
                    [("WWW-Authenticate", challenge)]
                )
            try:
                claims = decode_jwt(
                    token.strip(), secret, audience=AUDIENCE, issuer=ISSUER
                )
            except TokenError as error:
                challenge = 'Bearer realm="orders", error="invalid_token"'
                return Problem(401, str(error)).response(
                    [("WWW-Authenticate", challenge)]
                )
            reset = subject_var.set(str(claims["sub"]))
            try:
                return handler(request)
            finally:
                subject_var.reset(reset)

        return wrapped

    return middleware


# --8<-- [end:auth]


# --8<-- [start:pricing]
import math
from types import SimpleNamespace

from snippets.application.middleware import check_deadline, remaining
from snippets.reliability.circuit_breakers import (
    BreakerOpen,
    CircuitBreaker,
    ask,
)


def pricing(config: Config, breaker: CircuitBreaker, tracer, outcomes):
    """The price of an item, from the dependency, through the breaker, within
    the request's deadline; a refusal or failure raises."""
    target = SimpleNamespace(server_address=config.dependency)

    def price(item: str) -> int:
        check_deadline()
        timeout = min(config.call_timeout, remaining())
        with tracer.span("GET /price", "CLIENT"):
            try:
                answer = breaker.call(lambda: ask(target, timeout))
            except BreakerOpen:
                outcomes.inc(outcome="refused")
                raise
            except ConnectionError:
                outcomes.inc(outcome="failed")
                raise
        outcomes.inc(outcome="ok")
        return int(answer)

    return price


# --8<-- [end:pricing]


# --8<-- [start:refusals]
import logging

from snippets.application.app_core import Response
from snippets.application.layering import NotFound

log = logging.getLogger("capstone.app")


def refusals(retry_after: float) -> Middleware:
    """What the inner layers raise, as problem details: never a bare 500."""
    wait = [("Retry-After", str(math.ceil(retry_after)))]

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            try:
                return handler(request)
            except Problem as refusal:
                accept = [("Accept", "application/json")]
                return refusal.response(accept if refusal.status == 415 else [])
            except NotFound as error:
                return Problem(404, str(error)).response()
            except BreakerOpen:
                detail = "pricing is unavailable; try again later"
                return Problem(503, detail).response(wait)
            except ConnectionError as error:
                log.warning("pricing failed: %s", error)
                return Problem(503, "pricing failed; try again").response(wait)
            except sqlite3.OperationalError as error:  # locked, busy
                log.warning("database: %s", error)
                return Problem(503, "the database is busy").response(wait)

        return wrapped

    return middleware


# --8<-- [end:refusals]


# --8<-- [start:routes]
from dataclasses import asdict

from snippets.application.app_core import json_response
from snippets.application.routing import Router
from snippets.application.validation.json_decoding import decode_json
from snippets.application.validation.signup_endpoint import json_body
from snippets.capstone.store import OrderService
from snippets.communication.apis import if_none_match_passes, strong_etag


def routes(service: OrderService) -> Router:
    router = Router()

    @router.route("GET", "/")
    def index(request: Request) -> Response:
        return json_response({"orders": service.count()})

    @router.route("POST", "/orders")
    def place_order(request: Request) -> Response:
        document = decode_json(json_body(request))  # 415, 400
        key = request.header("Idempotency-Key")
        return service.place(subject_var.get(), key, document)  # 201, 422

    @router.route("GET", "/orders/{order_id:int}")
    def get_order(request: Request) -> Response:
        found = json_response(asdict(service.get(request.params["order_id"])))
        tag = strong_etag(found.body)  # RFC 9110 8.8.3: the bytes' identity
        fields = [("ETag", tag), ("Cache-Control", "private, no-cache")]
        condition = request.header("If-None-Match")
        if condition and not if_none_match_passes(condition, tag):
            return Response(304, b"", fields)  # RFC 9110 15.4.5
        return Response(200, found.body, [*found.headers, *fields])

    return router


# --8<-- [end:routes]


# --8<-- [start:build]
import threading
import time

from snippets.application.app_core import stack
from snippets.application.middleware import deadline, errors, request_id
from snippets.capstone.store import create
from snippets.capstone.telemetry import (
    BoundedRecorder,
    access_log,
    dependency_counter,
    traced_routes,
)
from snippets.capstone.worker import run_in_thread
from snippets.observability.health import Check, Health, health_endpoints
from snippets.observability.metrics import Registry, exposing, red
from snippets.observability.tracing.spans import Tracer
from snippets.reliability.rate_limiting import TokenBucket, rate_limited


def writable(path: str):
    """A readiness probe: can this process take SQLite's write lock now?"""

    def probe() -> None:
        conn = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    return probe


@dataclass
class Service:
    handler: Handler
    router: Router
    registry: Registry
    recorder: BoundedRecorder
    health: Health
    breaker: CircuitBreaker
    stop: threading.Event
    threads: list[threading.Thread]

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for check in self.health.checks:
            check.close()


def build(config: Config) -> Service:
    path = f"{config.folder}/orders.db"
    create(path)
    registry, recorder = Registry(), BoundedRecorder()
    tracer = Tracer("orders", recorder)
    breaker = CircuitBreaker(config.fail_max, config.reset_timeout)
    outcomes = dependency_counter(registry)
    service = OrderService(path, pricing(config, breaker, tracer, outcomes))
    router = routes(service)
    health = Health([Check("database", writable(path), 0.5, ttl=0.1)])
    limit = rate_limited(
        lambda: TokenBucket(config.rate, config.burst),
        lambda request: subject_var.get(),  # verified, or "anonymous"
        time.monotonic,
    )
    handler = stack(
        router,
        exposing(registry),
        health_endpoints(health),
        red(registry),
        traced_routes(tracer, router),
        request_id,
        access_log,
        errors,
        deadline(config.deadline),
        authenticated(config.secret),
        limit,
        refusals(config.reset_timeout),
    )
    stop, threads = threading.Event(), []
    if config.worker:
        beat = lambda: health.beat("outbox worker")  # noqa: E731
        threads.append(run_in_thread(config.folder, stop, beat))
    health.started.set()  # the schema exists: ready for traffic
    return Service(
        handler, router, registry, recorder, health, breaker, stop, threads
    )


# --8<-- [end:build]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import secrets
    import tempfile

    from snippets.application.app_core import call, serving
    from snippets.capstone.dependency import spawned

    secret = secrets.token_bytes(32)
    bearer = ("Authorization", f"Bearer {token_for('ada', secret)}")
    json_type = ("Content-Type", "application/json")
    key = ("Idempotency-Key", '"9d7c1e5a-4b7e-4b7a-8a52-2f0f3f6b1c11"')
    body = b'{"item": "teapot", "quantity": 2}'
    with (
        tempfile.TemporaryDirectory() as folder,
        spawned("snippets.capstone.dependency", "serve") as pricing_service,
    ):
        app = build(Config(folder, pricing_service.address, secret))
        with serving(app.handler) as server:
            no_token = call(server, "POST", "/orders", body, [json_type, key])
            print(no_token.status, no_token.header("WWW-Authenticate"))
            #> 401 Bearer realm="orders"
            headers = [bearer, json_type, key]
            first = call(server, "POST", "/orders", body, headers)
            again = call(server, "POST", "/orders", body, headers)
            same = first.body == again.body
            print(first.status, first.json()["price_cents"], same)
            #> 201 500 True
            order = call(server, "GET", first.header("Location"))
            tag = [("If-None-Match", order.header("ETag"))]
            cached = call(server, "GET", first.header("Location"), headers=tag)
            print(order.status, cached.status, cached.body)
            #> 200 304 b''
        app.close()
    # --8<-- [end:demo]
