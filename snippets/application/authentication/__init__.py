"""Authentication: password hashes, server-side sessions, cookies and a JWT by
hand.

Four modules, read in this order:

- `password_hashing`: how to store a password so that a stolen database does not
  hand the passwords over: scrypt with a random salt per user, in a
  self-describing string that records its cost parameters so they can be raised
  later, checked with a constant-time comparison.
- `session_cookies`: how a server-side session works: a random ID from `secrets`
  in a cookie with HttpOnly, Secure, SameSite and Path (no Max-Age: a session
  cookie), idle and absolute expiry enforced by the server, a new ID at login.
- `session_login`: how both meet over HTTP: a login handler that checks the hash
  and sets the cookie, and a `require_session` middleware that answers 401 with
  a challenge when no live session comes with the request.
- `jwt_by_hand`: how a JSON Web Token signed with HS256 is built and checked by
  hand (RFC 7519 and RFC 7515): base64url without padding,
  `header.payload.signature`, an exact algorithm check, a constant-time
  signature check, and the exp, nbf, iat, iss and aud claims with a small leeway
  for clock skew.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the login handler in `session_login` is one of its handlers and
`require_session` one of its middleware, served with its `serving`. Then the
middleware page (the onion, and request context in `contextvars`, which is how a
handler learns who its user is).

What it leaves out: rate limiting and lockout against online guessing,
multi-factor authentication, password reset, CSRF tokens, key rotation with
`kid`, asymmetric JWT algorithms (RS256, ES256), token revocation, TLS (the demo
serves plain HTTP on loopback), and persistence: the session store lives in one
process's memory. The page names what each of these protects against.

This package imports nothing at import time, so each module runs as `python -m`
without warnings.
"""
