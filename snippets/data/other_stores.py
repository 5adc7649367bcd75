"""Other stores: documents, full-text search, and content-addressed objects.

What it teaches: three shapes of storage beside rows and columns. JSON documents
in SQLite, queried by field with `->>` and sped up by an index on that
expression; an inverted index (tokens, postings) with BM25 ranking built from
scratch, and checked against SQLite's FTS5; and object storage where the SHA-256
of the content is the key, so identical uploads are stored once, handed out
through HMAC-signed URLs that expire.

Read first: docs/data/why_databases.md (durable writes) and
docs/data/transactions.md.

What it leaves out: stemming, phrase and prefix queries, compressed postings,
sharded search clusters, multipart uploads, replication of objects, and key
rotation for the URL-signing secret.

Run it: `python -m snippets.data.other_stores`.
"""

# --8<-- [start:documents]
import contextlib
import json
import re
import sqlite3

# ->> arrived in SQLite 3.38.0
ARROW = sqlite3.sqlite_version_info >= (3, 38, 0)
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def field_expression(field: str) -> str:
    """The SQL that reads a top-level field; an index must use the same
    expression."""
    # it becomes SQL text: allow plain names only
    if not FIELD.fullmatch(field):
        raise ValueError(f"not a plain field name: {field!r}")
    path = f"'$.{field}'"
    return f"body ->> {path}" if ARROW else f"json_extract(body, {path})"


class DocumentStore:
    """JSON documents in one SQLite table, found and indexed by field."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn  # the caller owns it, and its transactions
        conn.execute(
            "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY,"
            " body TEXT NOT NULL CHECK (json_valid(body)))"
        )

    def insert(self, document: dict[str, object]) -> int:
        """Store a document; return its id. NaN and infinity are refused."""
        body = json.dumps(document, allow_nan=False)  # NaN is not JSON
        cursor = self._conn.execute(
            "INSERT INTO docs (body) VALUES (?)", (body,)
        )
        return int(cursor.lastrowid)

    def find(self, field: str, value: object) -> list[dict[str, object]]:
        """Every document whose `field` equals `value`, in insertion order."""
        where = field_expression(field)
        sql = f"SELECT body FROM docs WHERE {where} = ? ORDER BY id"
        return [
            json.loads(body) for (body,) in self._conn.execute(sql, (value,))
        ]

    def create_index(self, field: str) -> None:
        """Index the expression that find() uses for `field`."""
        expression = field_expression(field)
        sql = f"CREATE INDEX IF NOT EXISTS docs_{field} ON docs ({expression})"
        self._conn.execute(sql)

    def plan(self, field: str) -> str:
        """How SQLite would run find(field, ...): EXPLAIN QUERY PLAN's
        detail."""
        sql = f"SELECT body FROM docs WHERE {field_expression(field)} = ?"
        rows = self._conn.execute("EXPLAIN QUERY PLAN " + sql, (None,))
        return "; ".join(row[3] for row in rows)


# --8<-- [end:documents]


# --8<-- [start:tokenize]
import unicodedata

WORD = re.compile(r"[^\W_]+")  # runs of letters and digits


def tokenize(text: str) -> list[str]:
    """Lower-case words with accents removed, like FTS5's unicode61
    tokenizer."""
    # é -> e + combining ´
    decomposed = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return WORD.findall(plain)


# --8<-- [end:tokenize]


# --8<-- [start:index]
import math
from collections import Counter


class InvertedIndex:
    """For each term, the documents that contain it: the postings."""

    def __init__(self) -> None:
        self.postings: dict[str, dict[int, int]] = {}  # term -> {doc id: count}
        self.lengths: dict[int, int] = {}  # doc id -> number of tokens

    def add(self, doc_id: int, text: str) -> None:
        """Index one document."""
        if doc_id in self.lengths:
            raise ValueError(f"document {doc_id} is already indexed")
        tokens = tokenize(text)
        self.lengths[doc_id] = len(tokens)
        for term, count in Counter(tokens).items():
            self.postings.setdefault(term, {})[doc_id] = count

    def search(
        self, query: str, k1: float = 1.2, b: float = 0.75
    ) -> list[tuple[int, float]]:
        """Documents with any query term, best BM25 score first (FTS5's k1 and
        b)."""
        n = len(self.lengths)
        scores: dict[int, float] = {}
        for term in dict.fromkeys(tokenize(query)):  # each distinct term once
            matches = self.postings.get(term, {})
            idf = math.log((n - len(matches) + 0.5) / (len(matches) + 0.5))
            idf = max(idf, 1e-6)  # as FTS5: a term in over half the documents
            average = sum(self.lengths.values()) / n
            for doc_id, tf in matches.items():
                norm = k1 * (1 - b + b * self.lengths[doc_id] / average)
                # saturates as tf grows
                gain = idf * tf * (k1 + 1) / (tf + norm)
                scores[doc_id] = scores.get(doc_id, 0.0) + gain
        return sorted(scores.items(), key=lambda hit: (-hit[1], hit[0]))


# --8<-- [end:index]


# --8<-- [start:fts5]
def fts5_available() -> bool:
    """Whether this SQLite was built with the FTS5 full-text extension."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        try:
            conn.execute("CREATE VIRTUAL TABLE probe USING fts5(body)")
        except sqlite3.OperationalError:  # "no such module: fts5"
            return False
    return True


def fts5_search(
    documents: dict[int, str], query: str
) -> list[tuple[int, float]]:
    """The same search done by FTS5, scored by -bm25() so that higher is
    better."""
    terms = dict.fromkeys(tokenize(query))
    if not terms:
        return []
    # quoted: no query syntax
    match = " OR ".join(f'"{term}"' for term in terms)
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE VIRTUAL TABLE pages USING fts5(body)")
        rows = documents.items()
        conn.executemany("INSERT INTO pages (rowid, body) VALUES (?, ?)", rows)
        sql = "SELECT rowid, -bm25(pages) FROM pages WHERE pages MATCH ?"
        return conn.execute(sql + " ORDER BY rank, rowid", (match,)).fetchall()


# --8<-- [end:fts5]


# --8<-- [start:durable_dirs]
import os
from pathlib import Path


def fsync_directory(path: Path) -> None:
    """Make the entries of a directory (new files, new folders, renames)
    durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(path: Path) -> None:
    """Like mkdir -p, and fsync the parent of every directory it creates."""
    if path.is_dir():
        return
    make_directories(path.parent)
    path.mkdir(exist_ok=True)  # exist_ok: another writer may have just made it
    fsync_directory(path.parent)  # the new folder's name survives a power cut


# --8<-- [end:durable_dirs]


# --8<-- [start:objects]
import hashlib
import tempfile

KEY = re.compile(r"[0-9a-f]{64}")


class CorruptObject(Exception):
    """The bytes on disk no longer hash to their key."""


class ObjectStore:
    """Blobs filed under the SHA-256 of their content: same bytes, same key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes) -> str:
        """Store `data` (once, however often it is uploaded); return its key."""
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key  # deduplicated: nothing to write
        make_directories(path.parent)
        fd, temporary = tempfile.mkstemp(dir=path.parent)  # unique: no clash
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                os.fsync(file.fileno())  # 1. the bytes are on disk...
            # 2. ...before the name: all or nothing...
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        fsync_directory(path.parent)  # 3. ...and the rename is durable too
        return key

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`, checked against it."""
        data = self._path(key).read_bytes()
        if hashlib.sha256(data).hexdigest() != key:
            raise CorruptObject(key)
        return data

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):  # no "../" can reach the file system
            raise ValueError(f"not a SHA-256 key: {key!r}")
        # 256 folders, not a million files in one
        return self.root / key[:2] / key[2:]


# --8<-- [end:objects]


# --8<-- [start:hmac]
def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 from its definition, RFC 2104 section 2 (use hmac.new for
    real).

    "H(K XOR opad, H(K XOR ipad, text))", with the key padded to the hash's
    block size (64 bytes for SHA-256), ipad the byte 0x36 repeated and opad
    0x5C.
    """
    block = 64
    if len(key) > block:  # "Applications that use keys longer than B bytes
        key = hashlib.sha256(key).digest()  # will first hash the key"
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + message).digest()
    return hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).digest()


# --8<-- [end:hmac]


# --8<-- [start:signed_urls]
import hmac
from urllib.parse import parse_qs, urlsplit

OBJECT_PATH = re.compile(r"/objects/([0-9a-f]{64})")
EXPIRES = re.compile(r"[0-9]{1,12}")  # not str.isdigit(): it accepts "²"
SIGNATURE = re.compile(r"[0-9a-f]{64}")


class URLRefused(Exception):
    """A signed URL that grants nothing."""


class MalformedURL(URLRefused):
    """Not the shape of a URL this server signs."""


class BadSignature(URLRefused):
    """Signed with another key, or changed after signing."""


class ExpiredURL(URLRefused):
    """Authentic, but its time is up."""


def signature(secret: bytes, path: str, expires: str) -> str:
    """HMAC-SHA256 over the method, the path and the expiry time."""
    message = f"GET\n{path}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_url(secret: bytes, key: str, expires: int) -> str:
    """A URL that lets its holder GET one object until `expires` (Unix time)."""
    path = f"/objects/{key}"
    return (
        f"{path}?expires={expires}&sig={signature(secret, path, str(expires))}"
    )


# --8<-- [end:signed_urls]


# --8<-- [start:verify_url]
def verify_url(secret: bytes, url: str, now: int) -> str:
    """Return the object key that `url` grants at time `now`, or raise why
    not."""
    parts = urlsplit(url[:513])
    query = parse_qs(parts.query, keep_blank_values=True)
    path = OBJECT_PATH.fullmatch(parts.path)
    expires, sig = query.get("expires", [""]), query.get("sig", [""])
    if len(url) > 512 or not path or set(query) != {"expires", "sig"}:
        raise MalformedURL("unexpected path, parameters or length")
    if len(expires + sig) != 2 or not EXPIRES.fullmatch(expires[0]):
        raise MalformedURL("expires must appear once, as digits")
    if not SIGNATURE.fullmatch(sig[0]):  # also keeps compare_digest to ASCII
        raise MalformedURL("sig must appear once, as 64 hex digits")
    if not hmac.compare_digest(
        signature(secret, parts.path, expires[0]), sig[0]
    ):
        raise BadSignature("signature does not match")
    if now >= int(expires[0]):
        raise ExpiredURL(f"expired {now - int(expires[0])} s ago")
    return path.group(1)


# --8<-- [end:verify_url]


if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:demo_documents]
    with contextlib.closing(
        sqlite3.connect(":memory:", isolation_level=None)
    ) as conn:
        store = DocumentStore(conn)
        cities = ["Lyon", "Oslo", "Lima", "Pune"]
        for i in range(1000):
            store.insert(
                {"user": f"u{i}", "city": cities[i % 4], "age": 20 + i % 50}
            )
        store.insert(
            {"user": "ada", "city": "London", "tags": ["math", "engines"]}
        )
        print(store.find("city", "London"))
        #> [{'user': 'ada', 'city': 'London', 'tags': ['math', 'engines']}]
        print(store.plan("city"))
        #> SCAN docs
        store.create_index("city")
        print(store.plan("city"))
        #> SEARCH docs USING INDEX docs_city (<expr>=?)
        print(len(store.find("age", 30)), len(store.find("age", "30")))
        #> 20 0
    # --8<-- [end:demo_documents]

    # --8<-- [start:demo_search]
    pages = {
        1: "SQLite is a small, fast, self-contained SQL database engine.",
        2: "A write-ahead log makes a database commit durable: fsync the log"
        " first.",
        3: "Full-text search ranks documents with BM25, which rewards rare"
        " terms.",
        4: "A log-structured store appends to its log; compaction rewrites"
        " the log and drops old log records.",
        5: "A cache keeps hot data in memory, in front of the database.",
    }
    index = InvertedIndex()
    for doc_id, text in pages.items():
        index.add(doc_id, text)
    print(index.postings["log"])
    #> {2: 2, 4: 4}
    ours = index.search("durable log")
    print([(doc_id, round(score, 3)) for doc_id, score in ours])
    #> [(2, 1.543), (4, 0.537)]
    if fts5_available():
        theirs = fts5_search(pages, "durable log")
        print([doc_id for doc_id, _ in theirs])
        #> [2, 4]
        pairs = zip(ours, theirs, strict=True)
        print(all(math.isclose(a[1], b[1]) for a, b in pairs))
        #> True
    # --8<-- [end:demo_search]

    # --8<-- [start:demo_objects]
    with tempfile.TemporaryDirectory() as tmp:
        objects = ObjectStore(Path(tmp))
        first = objects.put(b"hello world\n")
        again = objects.put(b"hello world\n")  # the same upload, a second time
        print(first == again, first[:16])
        #> True a948904f2f0f479b
        print(sum(1 for p in Path(tmp).rglob("*") if p.is_file()))
        #> 1
        print(objects.get(first))
        #> b'hello world\n'
    # --8<-- [end:demo_objects]

    # --8<-- [start:demo_urls]
    # in real life: secrets.token_bytes(32), kept secret
    secret = bytes(range(32))
    url = sign_url(secret, first, expires=1_700_000_600)
    print(verify_url(secret, url, now=1_700_000_000) == first)
    #> True
    other = hashlib.sha256(b"someone else's file").hexdigest()
    attempts = {
        "other object": url.replace(first, other),
        "longer life": url.replace("1700000600", "1800000600"),
        "wrong key": sign_url(b"a guess" * 5, first, expires=1_700_000_600),
        "no signature": url.split("&sig=")[0],
    }
    for name, attempt in attempts.items():
        try:
            verify_url(secret, attempt, now=1_700_000_000)
        except URLRefused as refusal:
            print(f"{name}: {type(refusal).__name__}")
            #> other object: BadSignature
            #> longer life: BadSignature
            #> wrong key: BadSignature
            #> no signature: MalformedURL
    try:
        verify_url(secret, url, now=1_700_000_601)
    except ExpiredURL as refusal:
        print(refusal)
        #> expired 1 s ago
    # --8<-- [end:demo_urls]
    # fmt: on
