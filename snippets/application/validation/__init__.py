"""Validation at the boundary: parse untrusted JSON into typed objects, or
answer a 4xx.

What it teaches: "parse, don't validate". A request body is bytes from a
stranger. One function turns it into a frozen dataclass (`SignUp`) or refuses
it, and code past the boundary only ever sees the typed object. The refusals are
RFC 9457 problem details (`application/problem+json`): 400 for bytes that are
not JSON we will read (bad UTF-8, bad syntax, duplicate names, NaN, nesting
deeper than a limit), 422 for well-formed JSON that breaks the rules (RFC 9110
section 15.5.21), with an `errors` list that locates each bad field by JSON
Pointer (RFC 6901), and 415 for a Content-Type that is not JSON. The sign-up
endpoint is one handler of the application core, served on loopback.

Four modules, read in this order:

- `problem_details`: one format for every refusal: `Problem`, an exception
  rendered once as an RFC 9457 document with a documented type, title and
  status, and `json_pointer`, the RFC 6901 pointer that locates a bad field.
- `json_decoding`: bytes to a JSON value within limits (UTF-8, nesting depth
  counted without recursion, no duplicate names, no NaN, no 4300-digit
  integers), or a 400.
- `signup_parsing`: a JSON value to a frozen `SignUp`, through small parsers
  that collect every error with its pointer into one 422; and the way back to
  JSON.
- `signup_endpoint`: POST /signups, a handler of the application core: 404 and
  405, 415 for a body that is not JSON, then decoding and parsing; 201 for a
  `SignUp`.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): the endpoint is one of its handlers, and its server reads the body
(Content-Length or chunked) and refuses one over the size limit with 413 before
the handler runs; the HTTP/1.1 messages page (status codes, framing); the
serialization page (what JSON is and is not).

What it leaves out: a schema language (JSON Schema, Pydantic) that would
generate these parsers, localized messages (Accept-Language), content codings
(gzip bodies), streaming parsers, and checks that need the database (is this
email already taken?): those belong to the service layer.

This package imports nothing at import time, so each module runs as `python -m`
without warnings.
"""
