"""Who may do what, decided by one table, and a handler that maps it to 401, 404
or 403.

What it teaches: authorization as a policy function `can(user, action,
resource)` driven by a table of roles, actions and scopes (own or any), where
everything the table does not grant is denied (least privilege); and how a
handler maps the decision to 401, 404 or 403, answering 404 when the user may
not even see the resource so that its existence does not leak (RFC 9110,
sections 15.5.4 and 15.5.5).

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the document handler here is one of its handlers, served with its
`serving`, so this module builds on `snippets.application.app_core`. Then the
authentication page (sessions; the bearer lookup here stands in for them).

What it leaves out: groups, attribute-based and relationship-based policies, a
policy language, audit logs; delegation with OAuth 2 (`oauth_code_flow` in this
package).

Run it: `python -m snippets.application.authorization.access_policy`.
"""

# --8<-- [start:policy]
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """Who is asking: an ID and one role."""

    id: str
    role: str


@dataclass(frozen=True)
class Document:
    """What is asked for: a resource with an owner."""

    id: str
    owner_id: str
    title: str = ""


OWN, ANY = "own", "any"
ACTIONS = ("read", "update", "delete", "transfer")

# role -> action -> scope. A missing entry is a "no": least privilege by
# default.
POLICY: dict[str, dict[str, str]] = {
    "member": {"read": OWN, "update": OWN, "delete": OWN, "transfer": OWN},
    "support": {"read": ANY},  # reads to help users, changes nothing
    "moderator": {"read": ANY, "update": OWN, "delete": ANY, "transfer": OWN},
    "admin": {"read": ANY, "update": OWN, "delete": ANY, "transfer": ANY},
}


def can(user: User | None, action: str, resource: Document) -> bool:
    """True if the table grants `action` on `resource` to `user`."""
    if user is None:
        return False
    scope = POLICY.get(user.role, {}).get(action)
    if scope == ANY:
        return True
    return scope == OWN and resource.owner_id == user.id


# --8<-- [end:policy]


# --8<-- [start:decide]
def decide(user: User | None, action: str, resource: Document | None) -> int:
    """The HTTP status for this request: 401, 404, 403, or 200 if allowed."""
    if user is None:
        return 401  # we do not know who you are: authenticate first
    if resource is None or not can(user, "read", resource):
        return 404  # you may not see it: as if it did not exist
    if not can(user, action, resource):
        return 403  # you see it, but may not do this
    return 200


# --8<-- [end:decide]


# --8<-- [start:app]
import re
from collections.abc import Callable

from snippets.application.app_core import (
    Handler,
    Request,
    Response,
    json_response,
    problem,
)

ROUTE = re.compile(r"/docs/([A-Za-z0-9_-]{1,64})(/transfer)?")
# (method, what follows the document ID) -> the action the policy is asked about
ROUTES = {("GET", ""): "read", ("HEAD", ""): "read", ("PUT", ""): "update"}
ROUTES |= {("DELETE", ""): "delete", ("POST", "/transfer"): "transfer"}
CHALLENGE = ("WWW-Authenticate", 'Bearer realm="docs"')  # RFC 9110, 15.5.2
Authenticate = Callable[[Request], User | None]


def refusal(status: int, action: str) -> Response:
    """The answer for a refusal from `decide`: nothing in it names the
    document."""
    if status == 401:  # a 401 carries a challenge: how to authenticate
        return problem(401, "authenticate first", [CHALLENGE])
    if status == 403:
        return problem(403, f"you may not {action} this document")
    return problem(404, "no such document")  # missing or hidden: the same bytes


def make_app(
    documents: dict[str, Document], authenticate: Authenticate
) -> Handler:
    """A handler whose every answer about a document comes from `decide`."""

    def app(request: Request) -> Response:
        found = ROUTE.fullmatch(request.path)
        if found is None:
            return refusal(404, "read")
        suffix = found[2] or ""
        action = ROUTES.get((request.method, suffix))
        if action is None:  # RFC 9110, 15.5.6: a 405 lists the allowed methods
            allow = ", ".join(method for method, end in ROUTES if end == suffix)
            detail = f"{request.method} is not allowed here"
            return problem(405, detail, [("Allow", allow)])
        status = decide(authenticate(request), action, documents.get(found[1]))
        if status != 200:
            return refusal(status, action)
        return json_response({"document": found[1], "action": action})

    return app


# --8<-- [end:app]


# --8<-- [start:bearer]
def bearer_users(tokens: dict[str, User]) -> Authenticate:
    """Authentication stand-in: `Authorization: Bearer <token>` looked up in a
    dict."""

    def authenticate(request: Request) -> User | None:
        scheme, _, token = (request.header("Authorization") or "").partition(
            " "
        )
        return tokens.get(token) if scheme.lower() == "bearer" else None

    return authenticate


# --8<-- [end:bearer]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_policy]
    ada, bob = User("ada", "member"), User("bob", "moderator")
    essay = Document("essay", owner_id="ada")
    print([can(ada, action, essay) for action in ACTIONS])
    #> [True, True, True, True]
    print([can(bob, action, essay) for action in ACTIONS])
    #> [True, False, True, False]
    # a role the table does not know
    print(can(User("eve", "intern"), "read", essay))
    #> False
    # --8<-- [end:demo_policy]
    # --8<-- [start:demo_decide]
    eve = User("eve", "member")
    print(decide(None, "read", essay), decide(eve, "read", essay))
    #> 401 404
    print(decide(eve, "read", None), decide(bob, "update", essay))
    #> 404 403
    print(decide(bob, "delete", essay))
    #> 200
    # --8<-- [end:demo_decide]
    # --8<-- [start:demo_app]
    from snippets.application.app_core import call, serving

    tokens = {"t-ada": ada, "t-bob": bob, "t-eve": eve}
    app = make_app({"essay": essay}, bearer_users(tokens))

    def ask(server, method: str, target: str, token: str = "") -> Response:
        auth = [("Authorization", f"Bearer {token}")] if token else []
        return call(server, method, target, headers=auth)

    with serving(app) as server:
        anonymous = ask(server, "GET", "/docs/essay")
        print(anonymous.status, anonymous.header("WWW-Authenticate"))
        #> 401 Bearer realm="docs"
        hidden = ask(server, "GET", "/docs/essay", "t-eve")
        missing = ask(server, "GET", "/docs/nothing", "t-eve")
        print(hidden.status, hidden.json()["detail"], hidden == missing)
        #> 404 no such document True
        print(ask(server, "PUT", "/docs/essay", "t-bob").status)
        #> 403
        wrong = ask(server, "PATCH", "/docs/essay", "t-bob")
        print(wrong.status, wrong.header("Allow"))
        #> 405 GET, HEAD, PUT, DELETE
        print(ask(server, "POST", "/docs/essay/transfer", "t-ada").json())
        #> {'document': 'essay', 'action': 'transfer'}
    # --8<-- [end:demo_app]
