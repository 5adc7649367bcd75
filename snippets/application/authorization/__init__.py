"""Authorization: who may do what, decided by one table; OAuth 2 with PKCE and
OIDC.

Three modules, read in this order:

- `access_policy`: authorization as a policy function `can(user, action,
  resource)` driven by a table of roles, actions and scopes (own or any), where
  everything the table does not grant is denied (least privilege); and a
  document handler, served by the application core, that maps the decision to
  401, 404 or 403, answering 404 when the user may not even see the resource so
  that its existence does not leak (RFC 9110, sections 15.5.4 and 15.5.5).
- `pkce_challenge`: PKCE's code verifier and its S256 code challenge (RFC 7636),
  checked against the example of RFC 7636's Appendix B.
- `oauth_code_flow`: the OAuth 2 authorization-code flow with PKCE (RFC 6749,
  section 4.1) with an OpenID Connect ID token and its nonce, played out between
  an in-memory authorization server and a client.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the document handler in `access_policy` is one of its handlers, served
with its `serving`. Then the authentication page (sessions, and the JWT that
`oauth_code_flow` condenses to sign ID tokens).

This package imports nothing at import time, so each module runs as `python -m`
without warnings.
"""
