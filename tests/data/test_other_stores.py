"""The "other stores" page's claims, checked against SQLite, FTS5, hashlib and hmac.

Oracles: SQLite's JSON functions and query planner for the documents, FTS5's
unicode61 tokenizer and bm25() for the search (when this SQLite has FTS5: see
test_fts5_is_detected_whenever_the_build_has_it), NIST and RFC 4231 test vectors
for SHA-256 and HMAC-SHA256, and Python's hmac module.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import sqlite3
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import other_stores as os_

FTS5 = os_.fts5_available()
needs_fts5 = pytest.mark.skipif(
    not FTS5, reason="this SQLite build has no FTS5: the bm25() comparison cannot run"
)
needs_arrow = pytest.mark.skipif(
    not os_.ARROW, reason=f"SQLite {sqlite3.sqlite_version} predates ->> (3.38.0)"
)


@pytest.fixture
def store():
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        yield os_.DocumentStore(conn)


# --- documents ------------------------------------------------------------------------


def test_arrow_is_used_exactly_when_sqlite_has_it() -> None:
    assert (sqlite3.sqlite_version_info >= (3, 38, 0)) == os_.ARROW


def test_find_returns_the_documents_whose_field_matches(store) -> None:
    store.insert({"name": "ada", "city": "London", "langs": ["en"]})
    store.insert({"name": "grace", "city": "New York"})
    store.insert({"name": "alan", "city": "London"})
    store.insert({"name": "no city"})
    assert [d["name"] for d in store.find("city", "London")] == ["ada", "alan"]
    assert store.find("city", "Paris") == []


def test_an_index_on_the_expression_turns_the_scan_into_a_search(store) -> None:
    for i in range(200):
        store.insert({"city": f"c{i % 10}"})
    assert store.plan("city") == "SCAN docs"
    store.create_index("city")
    assert store.plan("city") == "SEARCH docs USING INDEX docs_city (<expr>=?)"
    assert len(store.find("city", "c3")) == 20


@needs_arrow
def test_a_query_spelled_differently_does_not_use_the_index(store) -> None:
    store.create_index("city")
    sql = "EXPLAIN QUERY PLAN SELECT * FROM docs WHERE json_extract(body, '$.city') = ?"
    detail = store._conn.execute(sql, ("x",)).fetchone()[3]
    assert detail == "SCAN docs"


@needs_arrow
@pytest.mark.parametrize(
    ("where", "uses_index"),
    [
        ("body->>'$.city' = ?", True),  # spacing
        ("BODY ->> '$.city' = ?", True),  # case of the column name
        ("(body ->> '$.city') = ?", True),  # parentheses
        ("? = body ->> '$.city'", True),  # the operands of = swapped
        ("json_extract(body, '$.city') = ?", False),  # another function
        ("body ->> ? = ?", False),  # the path as a parameter
    ],
)
def test_the_planner_matches_the_expression_tree_not_its_text(
    store, where: str, uses_index: bool
) -> None:
    """SQLite: "the same, except for minor syntactic differences such as
    white-space changes"; "The query planner does not do algebra"."""
    store.create_index("city")
    parameters = ("$.city", "x") if where.count("?") == 2 else ("x",)
    sql = f"EXPLAIN QUERY PLAN SELECT * FROM docs WHERE {where}"
    detail = store._conn.execute(sql, parameters).fetchone()[3]
    assert detail.startswith("SEARCH docs USING INDEX docs_city") == uses_index


@needs_arrow
def test_arrow_and_json_extract_agree_on_scalar_fields(store) -> None:
    store.insert({"s": "text", "i": 3, "f": 1.5, "t": True, "n": None})
    for field in "sifn t".replace(" ", ""):
        arrow, extract = store._conn.execute(
            f"SELECT body ->> '$.{field}', json_extract(body, '$.{field}') FROM docs"
        ).fetchone()
        assert arrow == extract


def test_without_arrow_the_store_falls_back_to_json_extract(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os_, "ARROW", False)
    assert os_.field_expression("city") == "json_extract(body, '$.city')"
    store.insert({"city": "Oslo"})
    store.create_index("city")
    assert store.find("city", "Oslo") == [{"city": "Oslo"}]
    assert store.plan("city").startswith("SEARCH docs USING INDEX docs_city")


def test_a_json_number_does_not_equal_a_string(store) -> None:
    store.insert({"age": 30})
    assert len(store.find("age", 30)) == 1
    assert store.find("age", "30") == []


@pytest.mark.parametrize(
    "field", ["city'; DROP TABLE docs; --", "a.b", "", "1st", "x" * 65, "città"]
)
def test_field_names_that_are_not_plain_names_are_refused(store, field: str) -> None:
    with pytest.raises(ValueError, match="not a plain field name"):
        store.find(field, "x")


def test_nan_is_refused_and_the_table_itself_refuses_invalid_json(store) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        store.insert({"score": float("nan")})
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        store._conn.execute("INSERT INTO docs (body) VALUES ('{\"score\": NaN}')")


# --- tokens and postings --------------------------------------------------------------


def test_tokenize_lowercases_strips_accents_and_splits_on_punctuation() -> None:
    assert os_.tokenize("Café au-lait, snake_case 42x!") == [
        "cafe",
        "au",
        "lait",
        "snake",
        "case",
        "42x",
    ]


def fts5_tokens(text: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        conn.execute("INSERT INTO t VALUES (?)", (text,))
        return [term for (term,) in conn.execute("SELECT term FROM v ORDER BY offset")]


text_alphabet = string.ascii_letters + string.digits + " .,;:!?'-_()\n" + "éèàçöüñÉÇ"


@needs_fts5
@settings(max_examples=100)
@given(st.text(alphabet=text_alphabet, max_size=60))
def test_tokenize_agrees_with_fts5s_unicode61_tokenizer(text: str) -> None:
    assert os_.tokenize(text) == fts5_tokens(text)


def test_postings_count_each_term_per_document() -> None:
    index = os_.InvertedIndex()
    index.add(1, "the log and the log")
    index.add(2, "a log")
    assert index.postings["log"] == {1: 2, 2: 1}
    assert index.postings["the"] == {1: 2}
    assert index.lengths == {1: 5, 2: 2}


def test_a_document_cannot_be_indexed_twice() -> None:
    index = os_.InvertedIndex()
    index.add(1, "x")
    with pytest.raises(ValueError, match="already indexed"):
        index.add(1, "y")


def test_a_query_with_no_known_term_finds_nothing() -> None:
    index = os_.InvertedIndex()
    index.add(1, "something")
    assert index.search("nothing here") == []
    assert index.search("  !! ") == []
    assert os_.fts5_search({1: "something"}, "!!") == []


# --- ranking --------------------------------------------------------------------------

FILLER = "the a of to and in is it that"

RANKING_CASES = {
    "both terms beat one": (
        {
            1: "durable log writes",
            2: "a log of events",
            3: "durable goods",
            4: FILLER,
        },
        "durable log",
        1,
    ),
    "a rare term outweighs a common one": (
        {
            1: "cache cache",
            2: "cache eviction",
            3: "cache warm",
            4: "cache cold",
            5: FILLER,
        },
        "cache eviction",
        2,
    ),
    "the shorter document wins at equal counts": (
        {
            1: "index " + FILLER + " " + FILLER,
            2: "index page",
            3: FILLER,
            4: FILLER,
            5: FILLER,
            6: FILLER,
        },
        "index",
        2,
    ),
    "repeating a term saturates": (
        {
            1: "shard " * 12,
            2: "shard replica",
            3: "replica " + FILLER,
            4: FILLER,
            5: FILLER,
        },
        "shard replica",
        2,
    ),
}


@pytest.mark.parametrize("case", RANKING_CASES, ids=list(RANKING_CASES))
def test_the_most_relevant_document_ranks_first(case: str) -> None:
    documents, query, best = RANKING_CASES[case]
    index = os_.InvertedIndex()
    for doc_id, text in documents.items():
        index.add(doc_id, text)
    ranking = index.search(query)
    assert ranking[0][0] == best
    assert ranking[0][1] > ranking[1][1]


@needs_fts5
@pytest.mark.parametrize("case", RANKING_CASES, ids=list(RANKING_CASES))
def test_the_ranking_agrees_with_fts5_bm25(case: str) -> None:
    documents, query, _ = RANKING_CASES[case]
    index = os_.InvertedIndex()
    for doc_id, text in documents.items():
        index.add(doc_id, text)
    ours, theirs = index.search(query), os_.fts5_search(documents, query)
    assert [doc_id for doc_id, _ in ours] == [doc_id for doc_id, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert math.isclose(a, b, rel_tol=1e-9)


words = st.sampled_from(["log", "index", "page", "lock", "commit", "row", "tree"])
corpora = st.dictionaries(
    st.integers(1, 50),
    st.lists(words, min_size=1, max_size=12).map(" ".join),
    min_size=1,
    max_size=8,
)


@needs_fts5
@settings(max_examples=100)
@given(corpora, st.lists(words, min_size=1, max_size=3).map(" ".join))
def test_bm25_scores_equal_fts5s_for_any_small_corpus(documents, query) -> None:
    index = os_.InvertedIndex()
    for doc_id, text in documents.items():
        index.add(doc_id, text)
    ours = dict(index.search(query))
    theirs = dict(os_.fts5_search(documents, query))
    assert ours.keys() == theirs.keys()
    for doc_id, score in ours.items():
        assert math.isclose(score, theirs[doc_id], rel_tol=1e-9, abs_tol=1e-12)


@needs_fts5
def test_a_query_full_of_fts5_syntax_is_searched_as_plain_words() -> None:
    documents = {1: 'say "near" and or not', 2: "other"}
    assert [d for d, _ in os_.fts5_search(documents, 'NEAR("and" OR) NOT *')] == [1]


def test_fts5_is_detected_whenever_the_build_has_it() -> None:
    """No silent skip: if SQLite was compiled with FTS5, the comparisons run."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        options = {row[0] for row in conn.execute("PRAGMA compile_options")}
    assert ("ENABLE_FTS5" in options) == FTS5


def test_fts5_missing_is_reported_as_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoFts5Connection(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if "USING fts5" in sql:
                raise sqlite3.OperationalError("no such module: fts5")
            return super().execute(sql, *args)

    real_connect = sqlite3.connect
    monkeypatch.setattr(
        os_.sqlite3,
        "connect",
        lambda *a, **k: real_connect(*a, **k, factory=NoFts5Connection),
    )
    assert os_.fts5_available() is False


# --- content-addressed objects ----------------------------------------------------------


def test_the_key_is_the_sha256_of_the_content(tmp_path: Path) -> None:
    """FIPS 180-2's example: SHA-256("abc")."""
    key = os_.ObjectStore(tmp_path).put(b"abc")
    assert key == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (tmp_path / "ba" / key[2:]).read_bytes() == b"abc"
    assert os_.ObjectStore(tmp_path).get(key) == b"abc"


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    objects = os_.ObjectStore(tmp_path)
    keys = {objects.put(b"same bytes") for _ in range(5)}
    other = objects.put(b"other bytes")
    assert len(keys) == 1
    assert other not in keys
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        [keys.pop()[2:], other[2:]]
    )


def test_get_detects_a_changed_object(tmp_path: Path) -> None:
    objects = os_.ObjectStore(tmp_path)
    key = objects.put(b"original")
    (tmp_path / key[:2] / key[2:]).write_bytes(b"tampered")
    with pytest.raises(os_.CorruptObject):
        objects.get(key)


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "g" * 64, ""]
)
def test_keys_that_are_not_sha256_hex_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 key"):
        os_.ObjectStore(tmp_path).get(key)


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os_.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        os_.ObjectStore(tmp_path).put(b"data")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def record_durability_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Log every fsync (as the inode it reached), rename and mkdir, in order."""
    calls: list[tuple[str, ...]] = []
    real_fsync, real_replace, real_mkdir = os.fsync, os.replace, Path.mkdir

    def fsync(fd: int) -> None:
        calls.append(("fsync", str(os.fstat(fd).st_ino)))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        calls.append(("replace", str(dst)))

    def mkdir(self: Path, *args, **kwargs) -> None:
        real_mkdir(self, *args, **kwargs)
        calls.append(("mkdir", str(self)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    return calls


def fsynced(path: Path) -> tuple[str, str]:
    return ("fsync", str(path.stat().st_ino))


def test_a_put_fsyncs_the_object_then_its_directory_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The why-databases rule: a new name is durable only once its directory is
    fsynced, after os.replace and after mkdir alike."""
    root = tmp_path / "store" / "objects"  # neither folder exists yet
    objects = os_.ObjectStore(root)
    calls = record_durability_calls(monkeypatch)
    key = objects.put(b"first")
    folder, path = root / key[:2], root / key[:2] / key[2:]
    assert calls == [
        ("mkdir", str(tmp_path / "store")),
        fsynced(tmp_path),
        ("mkdir", str(root)),
        fsynced(tmp_path / "store"),
        ("mkdir", str(folder)),
        fsynced(root),
        fsynced(path),  # the temporary file: the same inode, renamed
        ("replace", str(path)),
        fsynced(folder),
    ]
    calls.clear()
    objects.put(b"first")  # deduplicated: nothing written, nothing synced
    assert calls == []


def test_a_put_into_an_existing_folder_creates_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = os_.ObjectStore(tmp_path)
    first = objects.put(b"0")
    second = next(  # other bytes whose key starts with the same two digits
        data
        for data in (b"%d" % i for i in range(1, 10_000))
        if hashlib.sha256(data).hexdigest()[:2] == first[:2]
    )
    calls = record_durability_calls(monkeypatch)
    key = objects.put(second)
    path = tmp_path / key[:2] / key[2:]
    assert calls == [fsynced(path), ("replace", str(path)), fsynced(path.parent)]


# --- HMAC and signed URLs -------------------------------------------------------------

RFC_4231 = [  # test cases 1, 2 and 6: the last has a key longer than the block
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]


@pytest.mark.parametrize(("key", "message", "expected"), RFC_4231)
def test_hmac_from_scratch_matches_rfc_4231(
    key: bytes, message: bytes, expected: str
) -> None:
    assert os_.hmac_sha256(key, message).hex() == expected


@settings(max_examples=100)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_hmac_from_scratch_matches_the_hmac_module(key: bytes, message: bytes) -> None:
    assert os_.hmac_sha256(key, message) == hmac.new(key, message, "sha256").digest()


SECRET = bytes(range(32))
KEY = hashlib.sha256(b"report.pdf").hexdigest()
EXPIRES = 1_700_000_600
NOW = 1_700_000_000


def test_a_signed_url_is_accepted_until_it_expires() -> None:
    url = os_.sign_url(SECRET, KEY, EXPIRES)
    assert os_.verify_url(SECRET, url, now=NOW) == KEY
    assert os_.verify_url(SECRET, url, now=EXPIRES - 1) == KEY
    with pytest.raises(os_.ExpiredURL, match="expired 0 s ago"):
        os_.verify_url(SECRET, url, now=EXPIRES)


def test_the_signature_is_hmac_sha256_of_method_path_and_expiry() -> None:
    url = os_.sign_url(SECRET, KEY, EXPIRES)
    message = f"GET\n/objects/{KEY}\n{EXPIRES}".encode()
    assert url.endswith("&sig=" + hmac.new(SECRET, message, "sha256").hexdigest())


def test_verification_compares_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, str]] = []
    real_compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(os_.hmac, "compare_digest", spy)
    os_.verify_url(SECRET, os_.sign_url(SECRET, KEY, EXPIRES), now=NOW)
    assert len(calls) == 1


def refusal(url: str, secret: bytes = SECRET, now: int = NOW) -> type[Exception]:
    with pytest.raises(os_.URLRefused) as caught:
        os_.verify_url(secret, url, now=now)
    return caught.type


GOOD = os_.sign_url(SECRET, KEY, EXPIRES)
OTHER_KEY = hashlib.sha256(b"payroll.xlsx").hexdigest()


@pytest.mark.parametrize(
    ("url", "secret", "now", "expected"),
    [
        (GOOD.replace(KEY, OTHER_KEY), SECRET, NOW, os_.BadSignature),
        (
            GOOD.replace(str(EXPIRES), str(EXPIRES + 86400)),
            SECRET,
            NOW,
            os_.BadSignature,
        ),
        (GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1"), SECRET, NOW, os_.BadSignature),
        (GOOD, b"another secret", NOW, os_.BadSignature),
        (GOOD, SECRET, EXPIRES + 3600, os_.ExpiredURL),
        (GOOD.split("&sig=")[0], SECRET, NOW, os_.MalformedURL),
        (GOOD.split("?")[0], SECRET, NOW, os_.MalformedURL),
        (GOOD + "&sig=" + "0" * 64, SECRET, NOW, os_.MalformedURL),
        (GOOD + "&admin=1", SECRET, NOW, os_.MalformedURL),
        (GOOD.replace(str(EXPIRES), "²"), SECRET, NOW, os_.MalformedURL),
        (GOOD.replace(str(EXPIRES), "-1"), SECRET, NOW, os_.MalformedURL),
        (GOOD.replace(str(EXPIRES), "1e9"), SECRET, NOW, os_.MalformedURL),
        (GOOD[:-1] + "é", SECRET, NOW, os_.MalformedURL),
        (GOOD.replace(GOOD[-64:], GOOD[-64:].upper()), SECRET, NOW, os_.MalformedURL),
        (GOOD.replace("/objects/", "/objects/../"), SECRET, NOW, os_.MalformedURL),
        (GOOD + "&pad=" + "x" * 600, SECRET, NOW, os_.MalformedURL),
    ],
    ids=[
        "other object",
        "longer life",
        "changed signature",
        "wrong key",
        "expired",
        "no signature",
        "no query",
        "two signatures",
        "extra parameter",
        "superscript digit",
        "negative expiry",
        "exponent expiry",
        "non-ascii signature",
        "upper-case hex",
        "dot-dot path",
        "too long",
    ],
)
def test_tampered_expired_wrong_key_and_malformed_urls_are_refused(
    url: str, secret: bytes, now: int, expected: type[Exception]
) -> None:
    assert refusal(url, secret, now) is expected


hex_keys = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=100)
@given(hex_keys, st.integers(1, 10**12 - 1), st.data())
def test_any_single_character_change_to_a_signed_url_is_refused(
    key: str, expires: int, data
) -> None:
    url = os_.sign_url(SECRET, key, expires)
    assert os_.verify_url(SECRET, url, now=expires - 1) == key
    position = data.draw(st.integers(0, len(url) - 1), label="position")
    replacement = data.draw(
        st.characters(codec="utf-8").filter(lambda c: c != url[position]),
        label="replacement",
    )
    changed = url[:position] + replacement + url[position + 1 :]
    with pytest.raises(os_.URLRefused):
        os_.verify_url(SECRET, changed, now=expires - 1)


def test_no_temporary_file_is_left_after_a_put(tmp_path: Path) -> None:
    os_.ObjectStore(tmp_path).put(b"x")
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    assert os.listdir(tmp_path) == [hashlib.sha256(b"x").hexdigest()[:2]]
