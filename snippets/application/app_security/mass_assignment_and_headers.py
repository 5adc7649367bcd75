"""Mass assignment and security headers: what a client may write, what a browser
may do.

What it teaches: two defences at the edges of a handler. Mass assignment: a JSON
body copied field by field onto a model lets a client set `is_admin`; the fix is
an explicit allow-list of writable fields and their types, and a 400 that names
any other field. Security headers: a middleware adds a Content-Security-Policy,
nosniff, Referrer-Policy and X-Frame-Options to each response that did not set
them itself, and HSTS is a middleware of its own, which only a deployment
reached over HTTPS stacks. The handlers and the middleware are the core's, so
this part builds on `snippets.application.app_core`.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core") and the middleware page; `injection` in this package, whose profile page
the headers protect (the CSP is defence in depth against XSS); `csrf` in this
package, whose `HTML` content type the profile handler sends.

What it leaves out: the general validation of a request body (the validation
page); a CSP that matches what real pages load, with a fresh nonce per response;
the browsers' HSTS preload list. The core speaks plain HTTP, so HSTS is a
property of the deployment that the handlers are told.

Run it: `python -m
snippets.application.app_security.mass_assignment_and_headers`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
import json
from collections.abc import Callable
from dataclasses import dataclass

from snippets.application.app_core import Handler, Request, Response, problem
from snippets.application.app_security.csrf import HTML

# isort: split
# --8<-- [start:mass_assignment]
from dataclasses import asdict

from snippets.application.app_core import json_response


def json_object(request: Request) -> dict[str, object]:
    """The body as a JSON object; ValueError for anything else."""
    value = json.loads(request.body)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


@dataclass
class Account:
    """A user's account; `is_admin` is not the user's to change."""

    name: str
    email: str
    is_admin: bool = False


def update_account_vulnerable(account: Account, request: Request) -> Response:
    """VULNERABLE: every field the client sends is copied onto the account."""
    for name, value in json_object(request).items():
        setattr(account, name, value)
    return json_response(asdict(account))


# --8<-- [end:mass_assignment]


# --8<-- [start:mass_assignment_fix]
# the fields a user may change, and their types
WRITABLE = {"name": str, "email": str}


def update_account(account: Account, request: Request) -> Response:
    """FIXED: only allow-listed fields, of the right type; anything else is a
    400."""
    changes = json_object(request)
    refused = sorted(set(changes) - WRITABLE.keys())
    if refused:
        return problem(400, f"not writable: {', '.join(refused)}")
    if not all(
        isinstance(value, WRITABLE[name]) for name, value in changes.items()
    ):
        return problem(400, "wrong type")
    for name, value in changes.items():
        setattr(account, name, value)
    return json_response(asdict(account))


def account_app(account: Account, fixed: bool) -> Handler:
    """PATCH /account with the vulnerable or the fixed update."""
    update = update_account if fixed else update_account_vulnerable

    def app(request: Request) -> Response:
        try:
            return update(account, request)
        # not JSON, or not an object: the client's fault
        except ValueError as error:
            return problem(400, str(error))

    return app


# --8<-- [end:mass_assignment_fix]


# --8<-- [start:headers]
from dataclasses import replace

from snippets.application.app_core import Middleware

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
# Five minutes, as the page's pitfalls advise for a first deployment: browsers
# keep the rule for max-age seconds. Raise it step by step (a week, a month,
# then a year with includeSubDomains) once every subdomain is known to serve
# HTTPS.
HSTS = {"Strict-Transport-Security": "max-age=300"}


def adding(extra: dict[str, str]) -> Middleware:
    """A middleware that adds each of `extra`'s headers the handler did not
    set."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            response = handler(request)
            new = [
                (k, v) for k, v in extra.items() if response.header(k) is None
            ]
            return replace(response, headers=[*response.headers, *new])

        return wrapped

    return middleware


with_security_headers = adding(SECURITY_HEADERS)
# RFC 6797 section 7.2: never over plain HTTP. The core speaks plain HTTP, so
# stack this only in a deployment whose clients reach it over HTTPS (TLS ends at
# a proxy in front).
with_hsts = adding(HSTS)


def profile_handler(render: Callable[[str, str], str]) -> Handler:
    """GET /profile?name=...&website=...: a profile page rendered by
    `render`."""

    def handle(request: Request) -> Response:
        name, website = (
            request.query.get(k, [""])[-1] for k in ("name", "website")
        )
        return Response(200, render(name, website).encode(), [HTML])

    return handle


# --8<-- [end:headers]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # Imported by earlier blocks of the page; here, so that this demo runs
    # alone.
    from snippets.application.app_core import call, serving
    from snippets.application.app_security.injection import profile_page

    # --8<-- [start:demo_mass]
    attack = b'{"name": "Mallory", "is_admin": true}'
    for fixed in (False, True):
        account = Account("bob", "bob@example.com")
        with serving(account_app(account, fixed)) as server:
            reply = call(server, "PATCH", "/account", attack)
        print(reply.status, account)
        #> 200 Account(name='Mallory', email='bob@example.com', is_admin=True)
        #> 400 Account(name='bob', email='bob@example.com', is_admin=False)
    print(reply.json()["detail"])
    #> not writable: is_admin
    # --8<-- [end:demo_mass]
    # --8<-- [start:demo_headers]
    from snippets.application.app_core import stack

    plain = profile_handler(profile_page)
    for app in (plain, stack(plain, with_security_headers)):
        with serving(app) as server:
            reply = call(server, "GET", "/profile?name=bob")
        print(
            reply.status,
            sum(reply.header(h) is not None for h in SECURITY_HEADERS),
        )
        #> 200 0
        #> 200 4
    for name in (
        "X-Content-Type-Options",
        "Referrer-Policy",
        "X-Frame-Options",
    ):
        print(f"{name}: {reply.header(name)}")
        #> X-Content-Type-Options: nosniff
        #> Referrer-Policy: strict-origin-when-cross-origin
        #> X-Frame-Options: DENY
    for directive in reply.header("Content-Security-Policy").split("; "):
        print(directive)
        #> default-src 'self'
        #> object-src 'none'
        #> base-uri 'none'
        #> form-action 'self'
        #> frame-ancestors 'none'
    print(reply.header("Strict-Transport-Security"))  # plain HTTP: no HSTS
    #> None
    # an HTTPS deployment
    behind_tls = stack(plain, with_hsts, with_security_headers)
    print(
        behind_tls(Request("GET", "/profile")).header(
            "Strict-Transport-Security"
        )
    )
    #> max-age=300
    # --8<-- [end:demo_headers]
