"""Application security: six attacks, each run against a vulnerable and a fixed
handler.

What it teaches: most web vulnerabilities are one of two mistakes. Either data
crosses into a place where it is read as code (SQL injection, cross-site
scripting, a JSON body that names fields the client must not set), or the server
trusts something about a request that an attacker controls (a cookie that the
browser attaches to a forged request, a URL that makes the server fetch its own
admin page). For each attack there is a vulnerable handler and a fixed one.

Four modules, read in this order:

- `injection`: SQL injection, fixed with parameterized SQL and allow-listed
  identifiers; cross-site scripting, fixed with HTML escaping that depends on
  the context (text, attribute, URL, script). Plain functions, no server.
- `csrf`: a bank whose session cookie alone authorizes a transfer, and the CSRF
  defences: SameSite cookies, Sec-Fetch-Site and Origin checks, a synchronizer
  token compared in constant time.
- `ssrf`: a link preview that fetches the internal admin page, and an
  SSRF-resistant fetcher (scheme and port allow-lists, every resolved address
  checked with `ipaddress`, the connection pinned to the checked address, every
  redirect checked again).
- `mass_assignment_and_headers`: an allow-list of writable fields against mass
  assignment, and security headers (CSP, nosniff, Referrer-Policy,
  frame-ancestors, and HSTS for a deployment that serves HTTPS) as a middleware
  of the core.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): every handler here is a core handler run with its `serving`, and the
security headers are one of its middleware; the middleware page shows more of
that shape.

What it leaves out: it is not a complete HTML sanitizer, a web application
firewall, an authentication system or a network egress firewall; DNS rebinding
is only mitigated for the connections this package makes itself. The core speaks
plain HTTP, so HTTPS (the Secure cookie, HSTS) is a property of the deployment
that the handlers are told. Use your framework's escaping, CSRF and session
machinery, and a network-level egress policy, in production.

This package imports nothing at import time, so each module runs as `python -m`
without warnings.
"""
