"""Cross-site request forgery: a cookie says whose browser it is, not who sent
the form.

What it teaches: the second mistake, trusting something about a request that an
attacker controls. A small bank keeps cookie sessions and moves money on `POST
/transfer`. Its vulnerable transfer trusts the session cookie alone, so a form
on another site that the victim's browser submits moves the money. The fixed
transfer refuses a request that the browser marks as cross-site (Sec-Fetch-Site)
or sends from another origin (Origin), then requires the session's synchronizer
token, compared in constant time with `hmac.compare_digest`; the session cookie
is HttpOnly and SameSite=Lax, and Secure when clients reach the bank over HTTPS.
Every handler is a core handler run with its `serving`, so this part builds on
`snippets.application.app_core`.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"), and `injection` in this package, whose `escape_html` writes the token
into the bank's form and whose `start_tags` reads it back in the demo.

What it leaves out: authentication (`log_in` takes no password), a real router,
and XSS: a script on the bank's own origin can read the token, so the defence
assumes there is none. The core speaks plain HTTP, so the Secure cookie is a
property of the deployment, which the bank is told through its `origin`. Use
your framework's CSRF and session machinery in production.

Run it: `python -m snippets.application.app_security.csrf`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
from snippets.application.app_security.injection import escape_html, start_tags

# isort: split
# --8<-- [start:bank]
import secrets
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from snippets.application.app_core import (
    Handler,
    Request,
    Response,
    problem,
    text,
)

HTML = ("Content-Type", "text/html; charset=utf-8")


def form(request: Request) -> dict[str, str]:
    """The fields of an application/x-www-form-urlencoded body."""
    return dict(parse_qsl(request.body.decode(errors="replace")))


@dataclass
class Bank:
    """Balances and cookie sessions; `origin` is where clients reach the
    bank."""

    # "https://..." when TLS ends at a proxy in front
    origin: str = "http://127.0.0.1"
    balances: dict[str, int] = field(
        default_factory=lambda: {"alice": 100, "eve": 0}
    )
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> user
    # session id -> CSRF token
    tokens: dict[str, str] = field(default_factory=dict)
    # guards balances
    lock: threading.Lock = field(default_factory=threading.Lock)


def log_in(bank: Bank, request: Request) -> Response:
    """Start a session (no password: authentication is another page's
    subject)."""
    user = form(request).get("user", "")
    if user not in bank.balances:
        return problem(403, "unknown user")
    session = secrets.token_urlsafe(32)
    bank.sessions[session], bank.tokens[session] = (
        user,
        secrets.token_urlsafe(32),
    )
    secure = "; Secure" if bank.origin.startswith("https://") else ""
    cookie = f"session={session}; Path=/; HttpOnly; SameSite=Lax{secure}"
    return Response(204, headers=[("Set-Cookie", cookie)])


def session_of(bank: Bank, request: Request) -> str | None:
    """The session id in the request's cookie, if it names a live session."""
    cookies = SimpleCookie(request.header("cookie") or "")
    session = cookies["session"].value if "session" in cookies else ""
    return session if session in bank.sessions else None


def transfer_form(bank: Bank, request: Request) -> Response:
    """The bank's own form, with the session's CSRF token in a hidden field."""
    session = session_of(bank, request)
    if session is None:
        return problem(401, "log in first")
    token = escape_html(bank.tokens[session])
    page = (
        f'<form method="post" action="/transfer">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        '<input name="to"><input name="amount"></form>'
    )
    return Response(200, page.encode(), [HTML])


# --8<-- [end:bank]


# --8<-- [start:csrf_vulnerable]
def move_money(bank: Bank, user: str, fields: dict[str, str]) -> Response:
    """Move `amount` from `user` to `to`, if both are valid."""
    to, amount = fields.get("to", ""), fields.get("amount", "")
    if to not in bank.balances or not (amount.isascii() and amount.isdigit()):
        return problem(400, "bad transfer")
    with bank.lock:
        if int(amount) > bank.balances[user]:
            return problem(400, "insufficient funds")
        bank.balances[user] -= int(amount)
        bank.balances[to] += int(amount)
    return text(f"sent {amount} to {to}\n")


def transfer_vulnerable(bank: Bank, request: Request) -> Response:
    """VULNERABLE: the session cookie alone authorizes the transfer."""
    session = session_of(bank, request)
    if session is None:
        return problem(401, "log in first")
    return move_money(bank, bank.sessions[session], form(request))


# --8<-- [end:csrf_vulnerable]


# --8<-- [start:csrf_fix]
import hmac


def cross_site_reason(request: Request, origin: str) -> str | None:
    """Why the browser says this request came from another origin, or None."""
    site = request.header("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"Sec-Fetch-Site is {site}"
    sender = request.header("origin")
    if sender is not None and sender != origin:
        return f"Origin {sender} is not {origin}"
    return None


def transfer(bank: Bank, request: Request) -> Response:
    """FIXED: refuse cross-site requests, then require the session's CSRF
    token."""
    session = session_of(bank, request)
    if session is None:
        return problem(401, "log in first")
    if reason := cross_site_reason(request, bank.origin):
        return problem(403, f"cross-site request refused: {reason}")
    fields = form(request)
    sent = fields.get("csrf_token", "").encode()
    if not hmac.compare_digest(sent, bank.tokens[session].encode()):
        return problem(403, "missing or wrong CSRF token")
    return move_money(bank, bank.sessions[session], fields)


def bank_app(bank: Bank, fixed: bool) -> Handler:
    """The bank as one handler, with the vulnerable or the fixed transfer."""
    routes = {
        ("POST", "/login"): log_in,
        ("GET", "/transfer"): transfer_form,
        ("POST", "/transfer"): transfer if fixed else transfer_vulnerable,
    }

    def app(request: Request) -> Response:
        route = routes.get((request.method, request.path))
        return route(bank, request) if route else problem(404, "no such page")

    return app


def origin_of(server: Any) -> str:
    """The origin (scheme, host and port) a loopback server's pages come
    from."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


# --8<-- [end:csrf_fix]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_csrf]
    from snippets.application.app_core import call, serving

    forged = [  # what the browser sends when evil.example's page submits a form
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    for fixed in (False, True):
        bank = Bank()
        with serving(bank_app(bank, fixed)) as server:
            bank.origin = origin_of(server)
            login = call(server, "POST", "/login", b"user=alice")
            # the browser keeps it
            cookie = login.header("Set-Cookie").split(";")[0]
            reply = call(
                server,
                "POST",
                "/transfer",
                b"to=eve&amount=100",
                [*forged, ("Cookie", cookie)],
            )
        print(reply.status, "| eve has", bank.balances["eve"])
        #> 200 | eve has 100
        #> 403 | eve has 0
    print(reply.json()["detail"])
    #> cross-site request refused: Sec-Fetch-Site is cross-site
    print(login.header("Set-Cookie").partition("; ")[2])
    #> Path=/; HttpOnly; SameSite=Lax
    # --8<-- [end:demo_csrf]
    # --8<-- [start:demo_csrf_token]
    bank = Bank()
    with serving(bank_app(bank, fixed=True)) as server:
        bank.origin = origin_of(server)
        login = call(server, "POST", "/login", b"user=alice")
        cookie = ("Cookie", login.header("Set-Cookie").split(";")[0])
        page = call(server, "GET", "/transfer", headers=[cookie]).body.decode()
        # the hidden field of the bank's form
        token = start_tags(page)[1][1]["value"]
        same_origin = [
            cookie,
            ("Origin", bank.origin),
            ("Sec-Fetch-Site", "same-origin"),
        ]
        statuses = [
            call(
                server,
                "POST",
                "/transfer",
                f"to=eve&amount=30&csrf_token={sent}".encode(),
                same_origin,
            ).status
            for sent in ("", "guessed", token)
        ]
    print(statuses, bank.balances)
    #> [403, 403, 200] {'alice': 70, 'eve': 30}
    # --8<-- [end:demo_csrf_token]
