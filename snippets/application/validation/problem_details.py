"""Problem details: one format for every refusal (RFC 9457), and JSON Pointers
into it.

What it teaches: how an API says no. `Problem` is an exception, raised where a
refusal is found and rendered once as an RFC 9457 document
(`application/problem+json`): a `type` URI and a `title` per kind of problem,
documented in `PROBLEM_TYPES` as section 4 asks (400 malformed JSON, 415
unsupported media type, 422 invalid input), the `status`, a `detail` for this
occurrence, a fresh `urn:uuid:` as its `instance`, and an `errors` extension. A
bare status code is `about:blank`, titled with its status phrase. `json_pointer`
writes the RFC 6901 pointer that locates a bad field in the request, with `~`
and `/` escaped.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): this module builds on `snippets.application.app_core`, whose `problem`
helper writes the document's title, status and detail and its media type; the
HTTP/1.1 messages page (status codes).

What it leaves out: localized titles and details (Accept-Language), pointers in
the URI fragment form of RFC 6901 section 6 (`#/age`), logging each refusal
under its `instance`, and problem documents for the core's own refusals (they
are plain text).

Run it: `python -m snippets.application.validation.problem_details`.
"""

# --8<-- [start:problem]
import uuid

from snippets.application.app_core import Headers, Response, problem

PROBLEM_BASE = "https://example.com/problems/"  # would resolve to documentation
# RFC 9457 section 4: URI, title, status
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "The body is not JSON we can read"),
    "unsupported-media-type": (415, "Send the body as application/json"),
    "invalid-input": (422, "The input breaks the rules"),
}


class Problem(Exception):
    """A refusal, raised where it is found and rendered once as problem
    details."""

    def __init__(
        self, kind: str | int, detail: str, errors: list | None = None
    ) -> None:
        """`kind` is a key of PROBLEM_TYPES, or a bare status code
        (about:blank)."""
        super().__init__(detail)
        self.kind, self.detail, self.errors = kind, detail, errors or []
        self.status = kind if isinstance(kind, int) else PROBLEM_TYPES[kind][0]

    def response(self, headers: Headers = ()) -> Response:
        """The RFC 9457 document: type, title, status, detail, instance (+
        errors)."""
        # title: status phrase
        members: dict[str, object] = {"type": "about:blank"}
        if isinstance(self.kind, str):  # a documented type, with its own title
            members["type"] = PROBLEM_BASE + self.kind
            members["title"] = PROBLEM_TYPES[self.kind][1]
        # quote it when you log
        members["instance"] = f"urn:uuid:{uuid.uuid4()}"
        if self.errors:
            members["errors"] = self.errors
        return problem(self.status, self.detail, headers, **members)


# --8<-- [end:problem]


# --8<-- [start:pointer]
def json_pointer(*tokens: str | int) -> str:
    """The RFC 6901 pointer to a value: '/' before each token, '~' and '/'
    escaped."""
    escaped = (str(t).replace("~", "~0").replace("/", "~1") for t in tokens)
    return "".join("/" + token for token in escaped)


# --8<-- [end:pointer]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_pointer]
    print(
        json_pointer("tags", 2),
        json_pointer("a/b", "m~n"),
        repr(json_pointer()),
    )
    #> /tags/2 /a~1b/m~0n ''
    # --8<-- [end:demo_pointer]
