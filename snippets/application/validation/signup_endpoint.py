"""The sign-up endpoint: POST /signups, a handler of the application core.

What it teaches: where the boundary sits in a server. The handler only routes
(404, and 405 with the `Allow` field of RFC 9110 section 15.5.6), refuses a
Content-Type that is not JSON in UTF-8 with 415 and an `Accept` field (section
15.5.16), then passes the body through `decode_json` (400) and `parse_signup`
(422) and renders any refusal once, as a problem document. Only a parsed
`SignUp` reaches the list behind it, with 201 and a `Location`; a lock guards
the list, because each connection has its own thread. `SIGNUP_MAX_BODY` is the
page's one limit: it is passed to `serving`, and the core refuses a longer body
with 413 before the handler runs.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): this module builds on `snippets.application.app_core`, whose server
reads the body (Content-Length or chunked) and refuses one over the size limit
with 413 before the handler runs; then `json_decoding` and `signup_parsing` in
this package; the HTTP/1.1 messages page (status codes, framing).

What it leaves out: content codings (a gzipped body), problem documents for the
core's own refusals (its 413 is plain text), rate limiting, and storage: the
accepted sign-ups live in a list in one process's memory.

Run it: `python -m snippets.application.validation.signup_endpoint`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
import re

from snippets.application.app_core import Response
from snippets.application.validation.json_decoding import decode_json
from snippets.application.validation.problem_details import Problem
from snippets.application.validation.signup_parsing import (
    SignUp,
    parse_signup,
    signup_json,
)

# isort: split
# --8<-- [start:media_type]
from snippets.application.app_core import Request

CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]*)', re.IGNORECASE)


def is_json(content_type: str) -> bool:
    """application/json, no charset or charset=utf-8 (RFC 8259 sections 8.1,
    11)."""
    media_type = content_type.split(";")[0].strip().lower()
    charset = CHARSET.search(content_type)
    return media_type == "application/json" and (
        charset is None or charset.group(1).lower() == "utf-8"
    )


def json_body(request: Request) -> bytes:
    """The request content, if it says it is JSON in UTF-8; else Problem 415."""
    if not is_json(request.header("Content-Type") or ""):
        detail = "send Content-Type: application/json, in UTF-8"
        raise Problem("unsupported-media-type", detail)
    return request.body


# --8<-- [end:media_type]

# --8<-- [start:handler]
import threading

from snippets.application.app_core import Handler, json_response

# bytes: pass to serving(); the core refuses more (413)
SIGNUP_MAX_BODY = 16 * 1024
ONLY_JSON = [("Accept", "application/json")]  # RFC 9110 15.5.16: what would do


def signups(accepted: list[SignUp]) -> Handler:
    """POST /signups: 201 with the parsed sign-up, or a problem document."""
    # guards `accepted`: each connection has its own thread
    lock = threading.Lock()

    def handle(request: Request) -> Response:
        if request.path != "/signups":
            return Problem(404, "sign-ups are POSTed to /signups").response()
        # RFC 9110 15.5.6: a 405 lists what is allowed
        if request.method != "POST":
            refusal = Problem(405, "this resource only accepts POST")
            return refusal.response([("Allow", "POST")])
        try:
            signup = parse_signup(decode_json(json_body(request)))
        except Problem as refusal:
            return refusal.response(ONLY_JSON if refusal.status == 415 else [])
        with lock:
            accepted.append(signup)
            location = f"/signups/{len(accepted)}"
        return json_response(signup_json(signup), 201, [("Location", location)])

    return handle


# --8<-- [end:handler]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_http]
    import json

    from snippets.application.app_core import call, serving

    good = {"email": "grace@example.com", "name": "Grace Hopper", "age": 85}
    requests = [
        (json.dumps(good).encode(), "application/json"),
        (b'{"email": ', "application/json"),
        (json.dumps({**good, "age": 7}).encode(), "application/json"),
        (json.dumps(good).encode(), "text/plain"),
        (b"x" * (SIGNUP_MAX_BODY + 1), "application/json"),
    ]
    accepted: list[SignUp] = []
    with serving(signups(accepted), max_body=SIGNUP_MAX_BODY) as server:
        for body, kind in requests:
            headers = [("Content-Type", kind)]
            reply = call(server, "POST", "/signups", body, headers)
            print(reply.status, reply.header("Content-Type"))
            #> 201 application/json
            #> 400 application/problem+json
            #> 422 application/problem+json
            #> 415 application/problem+json
            #> 413 text/plain; charset=utf-8
    print([signup.name for signup in accepted])
    #> ['Grace Hopper']
    # --8<-- [end:demo_http]
