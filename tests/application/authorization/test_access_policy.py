"""The access policy's claims: a table of who may do what, enforced over HTTP too.

Oracles: the permission table below is written out independently of the snippet's
POLICY and enforced over the whole table, through `can`, through `decide`, and through
a real HTTP client (the shared test client) against the handler served by the
application core. The page's own Markdown table is read back and compared with POLICY.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from snippets.application.app_core import Request, serving
from snippets.application.authorization import access_policy as authz
from snippets.communication.http_messages.message_server import MessageServer
from tests.helpers import Reply, http_request, run_demo
from tests.site.docs_tools import DOCS

# Who may do what, written out by hand: the specification the snippet must meet.
# own = on a document they own; other = on someone else's document.
TABLE = """
role       action     own  other
member     read       yes  no
member     update     yes  no
member     delete     yes  no
member     transfer   yes  no
support    read       yes  yes
support    update     no   no
support    delete     no   no
support    transfer   no   no
moderator  read       yes  yes
moderator  update     yes  no
moderator  delete     yes  yes
moderator  transfer   yes  no
admin      read       yes  yes
admin      update     yes  no
admin      delete     yes  yes
admin      transfer   yes  yes
"""
ROWS = [line.split() for line in TABLE.strip().splitlines()[1:]]
GRANTS = {
    (role, action): (own == "yes", other == "yes") for role, action, own, other in ROWS
}
CASES = [
    (role, action, whose) for (role, action) in GRANTS for whose in ("own", "other")
]
METHOD = {
    "read": ("GET", ""),
    "update": ("PUT", ""),
    "delete": ("DELETE", ""),
    "transfer": ("POST", "/transfer"),
}


def expected_status(role: str, action: str, whose: str) -> int:
    """404 if the user may not read the document, 403 if they may read but not act."""
    column = 0 if whose == "own" else 1
    if not GRANTS[(role, "read")][column]:
        return 404
    return 200 if GRANTS[(role, action)][column] else 403


def actors(role: str) -> tuple[authz.User, authz.Document, authz.Document]:
    user = authz.User(f"{role}-1", role)
    return user, authz.Document("mine", user.id), authz.Document("theirs", "someone")


def test_the_table_covers_every_role_and_action() -> None:
    assert set(GRANTS) == set(itertools.product(authz.POLICY, authz.ACTIONS))


@pytest.mark.parametrize(("role", "action", "whose"), CASES)
def test_can_follows_the_table(role: str, action: str, whose: str) -> None:
    user, mine, theirs = actors(role)
    resource = mine if whose == "own" else theirs
    allowed = GRANTS[(role, action)][0 if whose == "own" else 1]
    assert authz.can(user, action, resource) is allowed


@pytest.mark.parametrize(("role", "action", "whose"), CASES)
def test_decide_answers_200_403_or_404_as_the_table_says(
    role: str, action: str, whose: str
) -> None:
    user, mine, theirs = actors(role)
    resource = mine if whose == "own" else theirs
    assert authz.decide(user, action, resource) == expected_status(role, action, whose)


def test_nobody_may_update_someone_elses_document_not_even_an_admin() -> None:
    """Least privilege: moderating means deleting, never rewriting."""
    for role in authz.POLICY:
        user, _, theirs = actors(role)
        assert not authz.can(user, "update", theirs)


@pytest.mark.parametrize("action", [*authz.ACTIONS, "publish", "READ", ""])
def test_an_unknown_role_or_action_is_denied(action: str) -> None:
    stranger = authz.User("x", "intern")
    document = authz.Document("d", "x")  # even on its own document
    assert not authz.can(stranger, action, document)
    assert not authz.can(authz.User("a", "admin"), action.upper() + "!", document)


def test_an_anonymous_user_gets_401_for_everything() -> None:
    document = authz.Document("d", "x")
    for action in authz.ACTIONS:
        assert not authz.can(None, action, document)
        assert authz.decide(None, action, document) == 401
        assert authz.decide(None, action, None) == 401


def test_a_missing_document_and_a_hidden_one_look_the_same() -> None:
    member, _, theirs = actors("member")
    for action in authz.ACTIONS:
        assert authz.decide(member, action, None) == authz.decide(
            member, action, theirs
        )


# --- the document handler, served by the application core, over real HTTP ---------


def make_world() -> tuple[dict, dict]:
    documents, tokens = {}, {}
    for role in authz.POLICY:
        user = actors(role)[0]
        documents[f"{role}-doc"] = authz.Document(f"{role}-doc", user.id)
        tokens[f"token-{role}"] = user
    documents["theirs"] = authz.Document("theirs", "someone")
    return documents, tokens


@pytest.fixture(scope="module")
def docs_server() -> Iterator[MessageServer]:
    """One server for the module: the handler keeps no state between requests."""
    documents, tokens = make_world()
    with serving(authz.make_app(documents, authz.bearer_users(tokens))) as server:
        yield server


def ask(server: MessageServer, method: str, target: str, token: str | None) -> Reply:
    headers = [] if token is None else [("Authorization", f"Bearer {token}")]
    return http_request(server, method, target, headers=headers)


def test_a_real_http_client_sees_the_whole_table_enforced(docs_server) -> None:
    seen, bodies = {}, {}
    for role, action, whose in CASES:
        method, suffix = METHOD[action]
        document = f"{role}-doc" if whose == "own" else "theirs"
        reply = ask(docs_server, method, f"/docs/{document}{suffix}", f"token-{role}")
        seen[(role, action, whose)] = reply.status
        bodies[(role, action, whose)] = reply.json()
    assert seen == {case: expected_status(*case) for case in CASES}
    for case, body in bodies.items():
        if seen[case] == 200:
            assert body == {"document": body["document"], "action": case[1]}
        else:  # RFC 9457: the status member repeats the status code
            assert body["status"] == seen[case]


def test_refusals_are_problem_details(docs_server) -> None:
    for token, status in [(None, 401), ("token-member", 404), ("token-support", 403)]:
        reply = ask(docs_server, "DELETE", "/docs/theirs", token)
        assert reply.status == status
        assert reply.header("Content-Type") == "application/problem+json"
        assert reply.json()["status"] == status


@pytest.mark.parametrize("token", [None, "", "not-a-token", "token-admin x"])
def test_an_unknown_caller_gets_401_with_a_bearer_challenge(docs_server, token) -> None:
    for target in ("/docs/theirs", "/docs/nothing-here"):  # 401 before any 404
        reply = ask(docs_server, "GET", target, token)
        assert reply.status == 401
        assert reply.header("WWW-Authenticate") == 'Bearer realm="docs"'


@pytest.mark.parametrize(
    "authorization", ["Basic dG9rZW4tYWRtaW4=", "token-admin", "Bearertoken-admin"]
)
def test_only_the_bearer_scheme_authenticates(docs_server, authorization) -> None:
    headers = [("Authorization", authorization)]
    assert (
        http_request(docs_server, "GET", "/docs/theirs", headers=headers).status == 401
    )


def test_the_scheme_name_is_case_insensitive(docs_server) -> None:
    """RFC 9110, section 11.1: the auth-scheme is a case-insensitive token."""
    headers = [("Authorization", "bEaReR token-admin")]
    assert (
        http_request(docs_server, "GET", "/docs/theirs", headers=headers).status == 200
    )


def test_a_hidden_document_and_a_missing_one_get_the_same_bytes(docs_server) -> None:
    hidden = ask(docs_server, "DELETE", "/docs/theirs", "token-member")
    missing = ask(docs_server, "DELETE", "/docs/nothing-here", "token-member")
    unrouted = ask(docs_server, "DELETE", "/documents/theirs", "token-member")
    assert hidden.status == 404
    assert hidden == missing == unrouted  # status, every header field and the body


def test_head_reads_like_get_without_the_body(docs_server) -> None:
    for token in ("token-member", "token-support"):  # hidden, then visible
        get = ask(docs_server, "GET", "/docs/theirs", token)
        head = ask(docs_server, "HEAD", "/docs/theirs", token)
        assert (head.status, head.headers, head.body) == (get.status, get.headers, b"")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/docs/theirs", "GET, HEAD, PUT, DELETE"),
        ("POST", "/docs/theirs", "GET, HEAD, PUT, DELETE"),
        ("GET", "/docs/theirs/transfer", "POST"),
        ("PATCH", "/docs/nothing-here", "GET, HEAD, PUT, DELETE"),
    ],
)
def test_a_405_lists_the_allowed_methods(docs_server, method, path, allow) -> None:
    """RFC 9110, 15.5.6: MUST send Allow; it depends on the route, not the document."""
    reply = ask(docs_server, method, path, None)
    assert (reply.status, reply.header("Allow")) == (405, allow)


@pytest.mark.parametrize(
    "path",
    [
        "/docs/",
        "/documents/theirs",
        "/docs/../etc/passwd",
        "/docs/%2e%2e/theirs",
        "/docs/theirs/",
        "/docs/" + "a" * 65,
    ],
)
def test_unknown_routes_get_404(docs_server, path: str) -> None:
    assert ask(docs_server, "GET", path, "token-admin").status == 404


def test_the_handler_is_a_plain_function_of_a_request() -> None:
    """The core's handler contract: no server needed to ask it a question."""
    documents, tokens = make_world()
    app = authz.make_app(documents, authz.bearer_users(tokens))
    request = Request("GET", "/docs/theirs", headers=[("Authorization", "Bearer x")])
    response = app(request)
    assert response.status == 401
    assert response.header("WWW-Authenticate") == 'Bearer realm="docs"'


def test_the_demo_runs_clean_under_dev_mode() -> None:
    done = run_demo("snippets.application.authorization.access_policy", check=True)
    assert done.stderr == ""


def test_the_table_on_the_page_is_the_table_enforced() -> None:
    """The Markdown table on the page and POLICY say the same thing, cell by cell."""
    page = (DOCS / "application" / "authorization.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|(.*)\|$", page, re.M)
    shown = {
        role: [cell.strip() for cell in cells.split("|")]
        for role, cells in rows
        if role in authz.POLICY
    }
    assert set(shown) == set(authz.POLICY)
    for role, cells in shown.items():
        policy = authz.POLICY[role]
        assert cells == [policy.get(action, "no") for action in authz.ACTIONS]
