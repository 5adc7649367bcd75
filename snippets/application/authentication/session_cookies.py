"""Server-side sessions: a random ID in a cookie, everything else on the server.

What it teaches: how a server-side session works: a random ID from `secrets`
(256 bits), a store keyed by SHA-256 of the ID so that a leaked copy holds no
usable cookie values, idle and absolute expiry, a new ID at login (no session
fixation), and a logout that deletes the server's record; and the cookie that
carries the ID, built and read with `http.cookies`: the `__Host-` prefix,
HttpOnly, Secure, SameSite=Lax and Path=/ (no Max-Age: the browser forgets it
when it closes), and a reader that refuses the session cookie sent twice or an
oversized header.

Read first: `password_hashing` in this package (the login that a session
follows). Sessions are served over HTTP in `session_login`, the next part.

What it leaves out: persistence (the store lives in one process's memory, not in
a shared database or Redis), CSRF tokens, and TLS, which `Secure` only asks the
browser to insist on. The page's "What real systems do" and its warnings name
them.

Run it: `python -m snippets.application.authentication.session_cookies`.
"""

# --8<-- [start:sessions]
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

IDLE_TIMEOUT = 30 * 60  # seconds without a request before a session ends
# seconds after login, however active the user is
ABSOLUTE_TIMEOUT = 8 * 60 * 60


@dataclass
class Session:
    """What the server remembers about one logged-in browser."""

    user: str
    created: float
    last_seen: float


def _key(session_id: str) -> str:
    """Store a hash of the ID: a leaked store holds no usable cookie values."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class SessionStore:
    """Server-side sessions: the cookie carries a random ID, the server the
    rest."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._sessions: dict[str, Session] = {}  # sha256(ID) -> session
        self._clock = clock

    def login(self, user: str, old_id: str | None = None) -> str:
        """Start a session with a fresh ID; the pre-login ID stops working."""
        if old_id is not None:
            # no session fixation: never keep an ID across login
            self.logout(old_id)
        session_id = secrets.token_urlsafe(32)  # 256 random bits
        now = self._clock()
        self._sessions[_key(session_id)] = Session(user, now, now)
        return session_id

    def lookup(self, session_id: str) -> Session | None:
        """The live session for this ID, or None if unknown, idle or too old."""
        session = self._sessions.get(_key(session_id))
        if session is None:
            return None
        now = self._clock()
        idle, age = now - session.last_seen, now - session.created
        if idle > IDLE_TIMEOUT or age > ABSOLUTE_TIMEOUT:
            self.logout(session_id)
            return None
        session.last_seen = now
        return session

    def logout(self, session_id: str) -> None:
        """Forget the session; its cookie is now worthless."""
        self._sessions.pop(_key(session_id), None)


# --8<-- [end:sessions]


# --8<-- [start:cookies]
from http.cookies import CookieError, SimpleCookie

# the browser insists on Secure, Path=/ and no Domain
COOKIE_NAME = "__Host-session"
MAX_COOKIE_HEADER = 4096


def set_cookie(session_id: str, max_age: int | None = None) -> str:
    """The Set-Cookie value that hands the session ID to the browser.

    No Max-Age: a session cookie that the browser forgets when it closes
    (OWASP's session cheat sheet); the server enforces the idle and absolute
    timeouts. `max_age=0` deletes the cookie (logout).
    """
    cookie = SimpleCookie()
    cookie[COOKIE_NAME] = session_id
    morsel = cookie[COOKIE_NAME]
    morsel["path"] = "/"  # RFC 6265, 4.1.2.4: sent with requests for every path
    morsel["secure"] = True  # 4.1.2.5: only over HTTPS
    # 4.1.2.6: invisible to JavaScript's document.cookie
    morsel["httponly"] = True
    # RFC 6265bis: not sent on cross-site subrequests
    morsel["samesite"] = "Lax"
    if max_age is not None:
        morsel["max-age"] = max_age  # 4.1.2.2: seconds; 0 drops the cookie
    return morsel.OutputString()


def session_id_from(cookie_header: str) -> str | None:
    """Read the session ID from a request's Cookie header, or None if absent."""
    if len(cookie_header) > MAX_COOKIE_HEADER:
        raise CookieError("Cookie header too large")
    names = [pair.split("=", 1)[0].strip() for pair in cookie_header.split(";")]
    # two values: one may be planted, refuse both
    if names.count(COOKIE_NAME) > 1:
        raise CookieError(f"{COOKIE_NAME} sent more than once")
    cookie = SimpleCookie()
    cookie.load(cookie_header)
    morsel = cookie.get(COOKIE_NAME)
    return None if morsel is None else morsel.value


# --8<-- [end:cookies]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_session]
    # a fake clock, in seconds, that the demo moves by hand
    clock = [1_000_000.0]
    store = SessionStore(clock=lambda: clock[0])
    anonymous = store.login("anonymous")  # a session from before the login
    session_id = store.login("ada", old_id=anonymous)  # rotated at login
    print(store.lookup(anonymous), store.lookup(session_id).user)
    #> None ada
    print(set_cookie(session_id).replace(session_id, "<id>"))
    #> __Host-session=<id>; HttpOnly; Path=/; SameSite=Lax; Secure
    request_cookie = f"theme=dark; {COOKIE_NAME}={session_id}"
    print(session_id_from(request_cookie) == session_id)
    #> True
    clock[0] += IDLE_TIMEOUT + 1  # the user walks away for half an hour
    print(store.lookup(session_id))
    #> None
    # --8<-- [end:demo_session]
