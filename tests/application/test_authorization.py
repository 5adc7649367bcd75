"""The authorization page's claims: a table of who may do what, enforced; OAuth 2 + PKCE.

Oracles: the permission table below is written out independently of the snippet's
POLICY and enforced over the whole table, through `can`, through `decide`, and through
a real HTTP client (the shared test client) against the handler served by the
application core.
RFC 7636's Appendix B example checks the S256 challenge; PyJWT verifies the ID tokens the
authorization server signs, and we verify the ones PyJWT signs.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
import time
import urllib.parse
from collections.abc import Iterator

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application import authorization as authz
from snippets.application.app_core import Request, serving
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
    done = run_demo("snippets.application.authorization", check=True)
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


# --- PKCE ---------------------------------------------------------------------------

RFC_OCTETS = bytes(
    [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
)  # fmt: skip


def test_rfc7636_appendix_b_example() -> None:
    verifier = authz.b64url(RFC_OCTETS)
    assert verifier == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = authz.code_challenge_s256(verifier)
    assert challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert base64.urlsafe_b64decode(challenge + "=") == bytes(
        [19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8,
         118, 168, 120, 173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195]
    )  # fmt: skip


@settings(max_examples=100)
@given(st.integers(32, 96))
def test_generated_verifiers_meet_the_43_to_128_unreserved_rule(n_bytes: int) -> None:
    verifier = authz.make_code_verifier(n_bytes)
    assert 43 <= len(verifier) <= 128
    assert len(verifier) == math.ceil(n_bytes * 4 / 3)
    assert set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    challenge = authz.code_challenge_s256(verifier)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert len(challenge) == 43


def test_verifiers_are_fresh_each_time() -> None:
    assert len({authz.make_code_verifier() for _ in range(200)}) == 200


@pytest.mark.parametrize("n_bytes", [0, 31, 97, 1000])
def test_a_verifier_size_outside_the_rule_is_refused(n_bytes: int) -> None:
    with pytest.raises(ValueError, match="between 32 and 96"):
        authz.make_code_verifier(n_bytes)


@settings(max_examples=200)
@given(st.text(max_size=140))
def test_any_string_is_either_a_valid_verifier_or_an_oauth_error(text: str) -> None:
    valid = 43 <= len(text) <= 128 and all(
        c.isascii() and (c.isalnum() or c in "-._~") for c in text
    )
    if valid:
        assert len(authz.code_challenge_s256(text)) == 43
    else:
        with pytest.raises(authz.OAuthError) as refused:
            authz.code_challenge_s256(text)
        assert refused.value.code == "invalid_request"


# --- the authorization-code flow with PKCE and OIDC ----------------------------------

ISSUER = "https://id.example"
REDIRECT = "https://app.example/cb"
SECRET = "s" * 43  # a client secret long enough for HS256 (32 bytes and more)


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> authz.AuthorizationServer:
    clients = {"app": authz.ClientRegistration(SECRET, REDIRECT)}
    return authz.AuthorizationServer(ISSUER, clients, clock=clock)


def login(server: authz.AuthorizationServer) -> tuple[authz.PendingLogin, dict]:
    """Steps A-C; returns what the client kept and the token request it would send."""
    url, pending = authz.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    callback = authz.authorize(server, query, user="ada")
    form = {
        "grant_type": "authorization_code",
        "code": authz.callback_code(callback, pending),
        "client_id": "app",
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        "code_verifier": pending.verifier,
    }
    return pending, form


def test_the_authorization_request_carries_every_parameter() -> None:
    url, pending = authz.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query == {
        "response_type": "code",
        "client_id": "app",
        "scope": "openid",
        "redirect_uri": REDIRECT,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge_method": "S256",
        "code_challenge": authz.code_challenge_s256(pending.verifier),
    }
    assert pending.verifier not in url


def test_the_whole_flow_gives_an_access_token_and_an_id_token(server, clock) -> None:
    pending, form = login(server)
    answer = authz.exchange_code(server, form)
    assert answer["token_type"] == "Bearer"
    assert server.access_tokens == {answer["access_token"]: "ada"}
    claims = authz.verify_id_token(
        answer["id_token"], key=SECRET.encode(), issuer=ISSUER, client_id="app",
        nonce=pending.nonce, now=clock.now,
    )  # fmt: skip
    assert (claims["sub"], claims["aud"], claims["nonce"]) == (
        "ada",
        "app",
        pending.nonce,
    )


def test_pyjwt_verifies_the_id_token_the_server_signs(server) -> None:
    pending, form = login(server)
    id_token = authz.exchange_code(server, form)["id_token"]
    claims = jwt.decode(
        id_token, SECRET.encode(), algorithms=["HS256"], audience="app", issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "nonce"]},
    )  # fmt: skip
    assert claims["nonce"] == pending.nonce


def test_we_verify_an_id_token_pyjwt_signs(clock) -> None:
    now = int(clock.now)
    claims = {"iss": ISSUER, "sub": "ada", "aud": ["app", "other"], "iat": now,
              "exp": now + 300, "nonce": "n-123"}  # fmt: skip
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256")
    verified = authz.verify_id_token(
        token,
        key=SECRET.encode(),
        issuer=ISSUER,
        client_id="app",
        nonce="n-123",
        now=now,
    )
    assert verified == claims


def id_token_with(**changes: object) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "ada", "aud": "app", "iat": now, "exp": now + 300}
    claims |= {"nonce": "n-123"} | changes
    return authz.sign_id_token(claims, SECRET.encode())


BAD_ID_TOKENS = {
    "other nonce": (id_token_with(nonce="n-999"), "nonce"),
    "no nonce": (
        authz.sign_id_token(
            {"iss": ISSUER, "aud": "app", "exp": 2**40}, SECRET.encode()
        ),
        "nonce",
    ),
    "expired": (id_token_with(exp=int(time.time()) - 1), "expired"),
    "no exp": (id_token_with(exp=None), "expired"),
    "other issuer": (id_token_with(iss="https://evil.example"), "iss"),
    "other audience": (id_token_with(aud="other-app"), "aud"),
    "other key": (
        authz.sign_id_token({"nonce": "n-123"}, b"k" * 32),
        "signature",
    ),
    "alg none": (
        jwt.encode(
            {"iss": ISSUER, "aud": "app", "nonce": "n-123"}, None, algorithm="none"
        ),
        "alg",
    ),
    "two parts": ("e30.e30", "compact"),
    "not base64": ("!!!.e30.sig", "unreadable"),
    "header not an object": ("W10.e30.sig", "object"),
    "non-ASCII": ("é.e30.sig", "compact"),
}


@pytest.mark.parametrize("case", BAD_ID_TOKENS, ids=str)
def test_bad_id_tokens_are_refused(case: str) -> None:
    token, reason = BAD_ID_TOKENS[case]
    with pytest.raises(authz.OAuthError, match=reason) as refused:
        authz.verify_id_token(
            token, key=SECRET.encode(), issuer=ISSUER, client_id="app",
            nonce="n-123", now=time.time(),
        )  # fmt: skip
    assert refused.value.code == "invalid_token"


def test_a_callback_with_another_state_is_refused(server) -> None:
    url, pending = authz.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    attacker_query = {**query, "state": "attackers-state"}
    callback = authz.authorize(server, attacker_query, user="mallory")
    with pytest.raises(authz.OAuthError, match="state does not match"):
        authz.callback_code(callback, pending)


def test_a_stolen_code_without_the_verifier_is_useless(server) -> None:
    _, form = login(server)
    for guess in (authz.make_code_verifier(), authz.make_code_verifier(96)):
        with pytest.raises(authz.OAuthError, match="code_verifier") as refused:
            authz.exchange_code(server, {**form, "code_verifier": guess})
        assert refused.value.code == "invalid_grant"
    assert "access_token" in authz.exchange_code(server, form)  # the real client


def test_a_missing_verifier_is_refused(server) -> None:
    _, form = login(server)
    del form["code_verifier"]
    with pytest.raises(authz.OAuthError, match="code_verifier"):
        authz.exchange_code(server, form)


def test_a_code_works_once_and_its_replay_revokes_the_token(server) -> None:
    _, form = login(server)
    answer = authz.exchange_code(server, form)
    with pytest.raises(authz.OAuthError, match="already used") as refused:
        authz.exchange_code(server, form)
    assert refused.value.code == "invalid_grant"
    assert answer["access_token"] not in server.access_tokens


def test_an_expired_code_is_refused(server, clock) -> None:
    _, form = login(server)
    clock.now += authz.CODE_LIFETIME
    with pytest.raises(authz.OAuthError, match="expired"):
        authz.exchange_code(server, form)


def test_the_code_lifetime_is_within_rfc6749s_ten_minutes() -> None:
    assert 0 < authz.CODE_LIFETIME <= 600


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "stranger"}, "invalid_client"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_grant"),
        ({"code": "made-up"}, "invalid_grant"),
    ],
)
def test_token_requests_that_do_not_match_the_grant_are_refused(
    server, change: dict, code: str
) -> None:
    _, form = login(server)
    with pytest.raises(authz.OAuthError) as refused:
        authz.exchange_code(server, {**form, **change})
    assert refused.value.code == code


def test_a_code_for_one_client_cannot_be_redeemed_by_another(server) -> None:
    server.clients["other"] = authz.ClientRegistration("o" * 43, REDIRECT)
    _, form = login(server)
    stolen = {**form, "client_id": "other", "client_secret": "o" * 43}
    with pytest.raises(authz.OAuthError, match="mismatch"):
        authz.exchange_code(server, stolen)


def authorization_query() -> dict[str, str]:
    url, _ = authz.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client_id": "stranger"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
    ],
)
def test_authorization_requests_that_break_the_rules_are_refused(
    server, change: dict, code: str
) -> None:
    with pytest.raises(authz.OAuthError) as refused:
        authz.authorize(server, {**authorization_query(), **change}, user="ada")
    assert refused.value.code == code
    assert server.grants == {}
