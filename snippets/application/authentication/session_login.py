"""Over HTTP: a login handler that sets the session cookie, and a guard
middleware.

What it teaches: how password hashes and sessions meet on a server: a login
handler that reads a form, checks the password with `check_login` (an unknown
name costs a scrypt too, and gets the same 401 as a wrong password), ends any
session the request came with and sets a fresh session cookie; a logout handler
that deletes the session and asks the browser to drop the cookie; and a
`require_session` middleware that lets a request through only with a live
session, its user in a `contextvars` variable, and otherwise answers 401 with a
`WWW-Authenticate` challenge (RFC 9110, 15.5.2), failing closed on a cookie
header it cannot read.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the login handler is one of its handlers and `require_session` one of
its middleware, served with its `serving`, so this module builds on
`snippets.application.app_core`. Then the middleware page (request context in
`contextvars`), and `password_hashing` and `session_cookies` in this package.

What it leaves out: TLS (the demo serves plain HTTP on loopback), CSRF tokens
and rate limiting (the page's warnings say what they stop), the redirect to a
login page that frameworks send a browser, and a real router (the routing page
builds one).

Run it: `python -m snippets.application.authentication.session_login`.
"""

# --8<-- [start:http]
import contextvars
from http.cookies import CookieError
from urllib.parse import parse_qs

from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    call,
    json_response,
    problem,
    serving,
    text,
)
from snippets.application.authentication.password_hashing import (
    OWASP_MINIMUM,
    ScryptParams,
    check_login,
    hash_password,
)
from snippets.application.authentication.session_cookies import (
    SessionStore,
    session_id_from,
    set_cookie,
)

# RFC 9110, 15.5.2: a 401 MUST carry a challenge. No registered scheme fits a
# cookie session, so this one is made up; it tells a client where to log in.
CHALLENGE = ("WWW-Authenticate", 'Session realm="orders", login="/login"')
current_user: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_user"
)


def session_id_of(request: Request) -> str | None:
    """The session ID in the request's cookies; None if absent or unreadable."""
    lines = [
        value for name, value in request.headers if name.lower() == "cookie"
    ]
    try:  # several Cookie lines join with "; " (RFC 9113, 8.2.3), not ", "
        return session_id_from("; ".join(lines))
    except CookieError:
        return None  # fail closed: a cookie we cannot read is no session


def login_handler(
    users: dict[str, str],
    store: SessionStore,
    policy: ScryptParams = OWASP_MINIMUM,
) -> Handler:
    """POST name=...&password=... (a form); a new session in a cookie on
    success."""

    def login(request: Request) -> Response:
        form = parse_qs(request.body.decode("utf-8", "replace"))
        name, password = (
            form.get("name", [""])[-1],
            form.get("password", [""])[-1],
        )
        if not check_login(users, name, password, policy):
            # the same answer for an unknown name and a wrong password
            return problem(401, "wrong name or password", [CHALLENGE])
        session_id = store.login(name, old_id=session_id_of(request))
        cookie = ("Set-Cookie", set_cookie(session_id))
        return json_response({"user": name}, headers=[cookie])

    return login


def logout_handler(store: SessionStore) -> Handler:
    """POST /logout: forget the session; ask the browser to drop the cookie."""

    def logout(request: Request) -> Response:
        if (session_id := session_id_of(request)) is not None:
            store.logout(session_id)
        return Response(
            204, headers=[("Set-Cookie", set_cookie("", max_age=0))]
        )

    return logout


def require_session(store: SessionStore) -> Middleware:
    """Pass a request on only with a live session, its user in
    `current_user`."""

    def middleware(handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            session_id = session_id_of(request)
            session = None if session_id is None else store.lookup(session_id)
            if session is None:
                return problem(401, "log in first", [CHALLENGE])
            token = current_user.set(session.user)
            try:
                return handler(request)
            finally:
                current_user.reset(token)

        return guarded

    return middleware


# --8<-- [end:http]


# --8<-- [start:http_app]
def orders(request: Request) -> Response:
    """A protected resource: it trusts `current_user`, set by the middleware."""
    return text(f"orders of {current_user.get()}\n")


def auth_app(
    users: dict[str, str],
    store: SessionStore,
    policy: ScryptParams = OWASP_MINIMUM,
) -> Handler:
    """Three routes: log in, log out, and one page behind `require_session`."""
    routes = {
        ("POST", "/login"): login_handler(users, store, policy),
        ("POST", "/logout"): logout_handler(store),
        ("GET", "/orders"): require_session(store)(orders),
    }

    def app(request: Request) -> Response:
        handler = routes.get((request.method, request.path))
        allowed = [method for method, path in routes if path == request.path]
        # RFC 9110, 15.5.6: a 405 MUST send Allow
        if handler is None and allowed:
            allow = [("Allow", ", ".join(allowed))]
            return problem(405, "method not allowed", allow)
        if handler is None:
            return problem(404, f"no route for {request.path}")
        return handler(request)

    return app


# --8<-- [end:http_app]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_http]
    accounts = {"ada": hash_password("s3cret-passphrase")}
    sessions = SessionStore()
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    with serving(auth_app(accounts, sessions)) as server:
        reply = call(server, "GET", "/orders")  # no cookie yet
        print(reply.status, reply.header("WWW-Authenticate"))
        #> 401 Session realm="orders", login="/login"
        wrong = b"name=ada&password=guess"
        print(call(server, "POST", "/login", wrong, form).json()["detail"])
        #> wrong name or password
        right = b"name=ada&password=s3cret-passphrase"
        reply = call(server, "POST", "/login", right, form)
        cookie = reply.header("Set-Cookie")
        print(
            reply.status,
            reply.json(),
            "HttpOnly" in cookie,
            "Max-Age" in cookie,
        )
        #> 200 {'user': 'ada'} True False
        sent_back = [("Cookie", cookie.split(";")[0])]  # what a browser returns
        print(call(server, "GET", "/orders", headers=sent_back).body)
        #> b'orders of ada\n'
        print(call(server, "POST", "/logout", headers=sent_back).status)
        #> 204
        print(call(server, "GET", "/orders", headers=sent_back).status)
        #> 401
    # --8<-- [end:demo_http]
