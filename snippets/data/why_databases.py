"""Why databases: an append-only log key-value store that survives a crash.

What it teaches: the smallest durable storage engine. Every put appends one
length-prefixed record with a CRC-32 to a log file and fsyncs it; an in-memory
index (the "keydir", as Bitcask calls it) maps each key to its latest record.
Opening the store replays the log: a record torn by a crash is detected by its
length or its checksum, cut off, and never returned; damage before the last
record makes opening fail instead, since cutting there would drop good records.
A child process killed with SIGKILL in the middle of a write shows the first;
one flipped bit shows the second. Then the same API backed by a SQLite table, to
see what a real database adds on top.

Read first: the journey of a request (docs/journey.md), for where the database
sits in a backend.

What it leaves out: several writers at once (one process owns the log),
transactions over several keys, range queries, hint files and background
merging, and what no test in user space can show: a power cut, or a drive that
acknowledges a cache flush it never did.

Run it: `python -m snippets.data.why_databases`.
"""

# --8<-- [start:record]
import struct
import zlib
from typing import NamedTuple

HEADER = struct.Struct(">III")  # CRC-32, key length, value length (big-endian)
# a value length no real value has: "this key was deleted"
TOMBSTONE = 0xFFFF_FFFF
# limits: a corrupted length field must not make us read gigabytes
MAX_KEY = 1024
MAX_VALUE = 16 * 1024 * 1024


class Record(NamedTuple):
    """One entry of the log: a key and its new value, or None for a delete."""

    key: bytes
    value: bytes | None


def encode_record(key: bytes, value: bytes | None) -> bytes:
    """Frame one put (or delete, if value is None) as bytes for the log.

    Layout: crc32 | key length | value length | key | value. The checksum covers
    everything after itself, the two lengths included.
    """
    if not 0 < len(key) <= MAX_KEY:
        raise ValueError(f"key must be 1 to {MAX_KEY} bytes, got {len(key)}")
    if value is not None and len(value) > MAX_VALUE:
        raise ValueError(f"value must be at most {MAX_VALUE} bytes")
    value_length = TOMBSTONE if value is None else len(value)
    body = struct.pack(">II", len(key), value_length) + key + (value or b"")
    return struct.pack(">I", zlib.crc32(body)) + body


# --8<-- [end:record]


# --8<-- [start:decode]
class CorruptRecord(Exception):
    """The bytes at some offset are not one complete, intact record."""


class TornRecord(CorruptRecord):
    """The log ends in the middle of a record: a write that never finished."""


class ChecksumMismatch(CorruptRecord):
    """A record is all there, but its CRC-32 does not match its bytes."""


def decode_record(data: bytes, offset: int) -> tuple[Record, int]:
    """Read the record that starts at `offset`; return it and where the next
    starts.

    Raises:
        TornRecord: the data ends before the record does.
        CorruptRecord: the lengths are impossible, or the checksum is wrong.
    """
    start = offset + HEADER.size
    if start > len(data):
        raise TornRecord(
            f"offset {offset}: {len(data) - offset} of 12 header bytes"
        )
    crc, key_length, value_length = HEADER.unpack_from(data, offset)
    size = 0 if value_length == TOMBSTONE else value_length
    # check before trusting
    if not 0 < key_length <= MAX_KEY or size > MAX_VALUE:
        raise CorruptRecord(
            f"offset {offset}: impossible lengths {key_length}, {size}"
        )
    end = start + key_length + size
    if end > len(data):
        raise TornRecord(f"offset {offset}: record needs {end - offset} bytes")
    if zlib.crc32(data[offset + 4 : end]) != crc:
        raise ChecksumMismatch(f"offset {offset}: CRC-32 does not match")
    key = data[start : start + key_length]
    value = (
        None if value_length == TOMBSTONE else data[start + key_length : end]
    )
    return Record(key, value), end


# --8<-- [end:decode]


# --8<-- [start:scan]
class Recovery(NamedTuple):
    """What replaying a log found."""

    records: list[tuple[int, Record]]  # (offset, record) of every intact record
    valid_end: int  # the log can be trusted up to this byte
    problem: CorruptRecord | None  # why the replay stopped early, if it did


def scan_log(data: bytes) -> Recovery:
    """Replay a log from the start; stop at the first record that is not
    intact."""
    records: list[tuple[int, Record]] = []
    offset = 0
    while offset < len(data):
        try:
            record, end = decode_record(data, offset)
        except CorruptRecord as problem:
            return Recovery(records, offset, problem)
        records.append((offset, record))
        offset = end
    return Recovery(records, offset, None)


def build_index(recovery: Recovery) -> dict[bytes, tuple[int, int]]:
    """Map each live key to (offset, size) of its latest record: later wins."""
    index: dict[bytes, tuple[int, int]] = {}
    for offset, record in recovery.records:
        if record.value is None:
            index.pop(record.key, None)
        else:
            size = HEADER.size + len(record.key) + len(record.value)
            index[record.key] = (offset, size)
    return index


# --8<-- [end:scan]


# --8<-- [start:tail]
import contextlib
import re


class CorruptLog(Exception):
    """A bad record with intact records after it: cutting there would lose
    them."""


# Where a record can start: its bytes 4 to 7 hold a key length of 1 to 1024.
KEY_LENGTH_AHEAD = re.compile(
    rb"(?=.{4}\x00\x00(?:\x00[^\x00]|[\x01-\x03].|\x04\x00))", re.DOTALL
)


def next_intact_record(data: bytes, offset: int) -> int | None:
    """Where the first intact record after `offset` starts, if one does.

    Only offsets with a possible key length are decoded. Garbage passes the CRC
    by chance with odds of 2**-32 per try, so a torn tail is only very rarely
    taken for damage in the middle.
    """
    for candidate in KEY_LENGTH_AHEAD.finditer(data, offset + 1):
        with contextlib.suppress(CorruptRecord):
            decode_record(data, candidate.start())
            return candidate.start()
    return None


def check_tail(data: bytes, recovery: Recovery) -> None:
    """Raise CorruptLog unless the replay stopped at the end or at a torn tail.

    A crash can tear only the last record. If an intact record follows the bad
    one, the damage is in the middle (a disk error, not a crash): refuse.
    """
    if recovery.problem is None:
        return
    found = next_intact_record(data, recovery.valid_end)
    if found is not None:
        raise CorruptLog(
            f"{recovery.problem}; an intact record follows at {found}"
        )


# --8<-- [end:tail]


# --8<-- [start:fsync]
import os


def write_all(fd: int, data: bytes, piece_size: int = 1 << 20) -> None:
    """Write every byte, `piece_size` bytes per write() call at most.

    os.write may write fewer bytes than it was given, so we loop; and a crash
    between two calls leaves the first pieces in the file without the rest.
    """
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:piece_size]) :]


def fsync_directory(path: str) -> None:
    """Make a new or renamed directory entry durable.

    fsync(2): "Calling fsync() does not necessarily ensure that the entry in the
    directory containing the file has also reached disk. For that an explicit
    fsync() on a file descriptor for the directory is also needed."
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --8<-- [end:fsync]


# --8<-- [start:open]
def open_log(path: str) -> tuple[int, Recovery]:
    """Open (or create) a log file, replay it, and cut off a torn tail.

    Raises:
        CorruptLog: a bad record with intact ones after it; the file is
            untouched.
    """
    new = not os.path.exists(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    if new:  # the file's bytes are not enough: its name must survive too
        fsync_directory(os.path.dirname(os.path.abspath(path)))
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    recovery = scan_log(data)
    try:
        check_tail(data, recovery)  # damage in the middle: leave the file alone
    except CorruptLog:
        os.close(fd)
        raise
    if recovery.valid_end < size:  # or the next record would follow garbage
        os.ftruncate(fd, recovery.valid_end)
        os.fsync(fd)
    return fd, recovery


# --8<-- [end:open]


# --8<-- [start:reader]
class LogReader:
    """Opens a log, keeps its index in memory, and answers reads from the
    file."""

    def __init__(self, path: str) -> None:
        self._fd, self.recovery = open_log(path)
        # key -> (offset, size) of its record
        self._index = build_index(self.recovery)
        self._end = self.recovery.valid_end  # invariant: the log's size

    def get(self, key: bytes) -> bytes | None:
        """Return the latest value of `key`, its checksum verified again, or
        None."""
        if key not in self._index:
            return None
        offset, size = self._index[key]
        record, _ = decode_record(os.pread(self._open_fd(), size, offset), 0)
        if record.key != key:  # another process appended behind our back
            raise CorruptRecord(
                f"offset {offset} holds {record.key!r}, not {key!r}"
            )
        return record.value

    def keys(self) -> list[bytes]:
        """Every live key, sorted."""
        return sorted(self._index)

    def _open_fd(self) -> int:
        if self._fd < 0:
            raise ValueError("the store is closed")
        return self._fd

    def close(self) -> None:
        """Close the log file; safe to call twice."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# --8<-- [end:reader]


# --8<-- [start:store]
class LogStore(LogReader):
    """A key-value store whose only file is an append-only log."""

    def __init__(self, path: str, piece_size: int = 1 << 20) -> None:
        super().__init__(path)
        self._piece_size = piece_size  # bytes per write() call, at most

    def put(self, key: bytes, value: bytes) -> None:
        """Store `value` under `key`; durable when this returns."""
        self._append(key, value)

    def delete(self, key: bytes) -> None:
        """Forget `key` by appending a tombstone record."""
        if key in self._index:
            self._append(key, None)

    def _append(self, key: bytes, value: bytes | None) -> None:
        record = encode_record(key, value)
        try:
            write_all(self._open_fd(), record, self._piece_size)
            os.fsync(self._fd)  # on disk (if the drive keeps its promise) now
        except OSError:
            # fail-stop: after a failed fsync only a replay is trustworthy
            self.close()
            raise
        if value is None:
            self._index.pop(key, None)
        else:
            self._index[key] = (self._end, len(record))
        self._end += len(record)


# --8<-- [end:store]


# --8<-- [start:compact]
def compact_log(path: str) -> None:
    """Rewrite a closed log with only its live records, and swap it in
    atomically."""
    with open(path, "rb") as log:
        data = log.read()
    recovery = scan_log(data)
    check_tail(data, recovery)  # never compact damage away
    live = [data[o : o + n] for o, n in sorted(build_index(recovery).values())]
    temporary = path + ".compacting"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, b"".join(live))
        os.fsync(fd)  # 1. the new file's bytes are on disk...
    finally:
        os.close(fd)
    os.replace(temporary, path)  # 2. ...before its name replaces the old one...
    fsync_directory(os.path.dirname(os.path.abspath(path)))  # 3. ...durably


# --8<-- [end:compact]


# --8<-- [start:sqlite_store]
import sqlite3


class SqliteStore:
    """The same key-value API, backed by one SQLite table."""

    def __init__(self, path: str) -> None:
        # isolation_level=None: no implicit BEGIN; each statement commits alone.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        # fsync the WAL at every commit
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS kv"
            " (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
        )

    def put(self, key: bytes, value: bytes) -> None:
        """Insert or replace the value of `key`."""
        self._db.execute(
            "INSERT INTO kv VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete(self, key: bytes) -> None:
        """Remove `key` if it is there."""
        self._db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def get(self, key: bytes) -> bytes | None:
        """Return the value of `key`, or None."""
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else row[0]

    def keys(self) -> list[bytes]:
        """Every key, sorted (the primary key's B-tree is already in order)."""
        return [
            key
            for (key,) in self._db.execute("SELECT key FROM kv ORDER BY key")
        ]

    def close(self) -> None:
        """Close the connection (a `with` block on it would only commit)."""
        self._db.close()


# --8<-- [end:sqlite_store]


# --8<-- [start:sqlite_more]
def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key above every key that starts with `prefix` (None: no
    bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class RichSqliteStore(SqliteStore):
    """What SQLite gives for free: batches that are atomic, and range scans."""

    def put_many(self, items: list[tuple[bytes, bytes]]) -> None:
        """Store every pair, or none of them if any one fails."""
        # the connection as a context manager: COMMIT or ROLLBACK
        with self._db:
            self._db.execute("BEGIN")
            for key, value in items:
                self.put(key, value)

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Every pair whose key starts with `prefix`, in key order: a range
        scan."""
        end = prefix_end(prefix)
        if end is None:
            sql, parameters = "WHERE key >= ?", (prefix,)
        else:
            sql, parameters = "WHERE key >= ? AND key < ?", (prefix, end)
        query = f"SELECT key, value FROM kv {sql} ORDER BY key"
        return self._db.execute(query, parameters).fetchall()

    def plan(self, sql: str, parameters: tuple[object, ...]) -> str:
        """How SQLite will run `sql`: the detail column of EXPLAIN QUERY
        PLAN."""
        rows = self._db.execute(
            "EXPLAIN QUERY PLAN " + sql, parameters
        ).fetchall()
        return "; ".join(row[3] for row in rows)


# --8<-- [end:sqlite_more]


# --8<-- [start:kill]
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection


def kill_after_messages(
    target: Callable[..., None],
    args: tuple[object, ...],
    messages: int,
    timeout: float = 30,
) -> tuple[list[object], int]:
    """Run `target(*args, pipe)` in a child process; SIGKILL it after n
    messages.

    The child reports progress through the pipe, so the parent kills it at a
    known point, without guessing with sleeps. Returns the messages and the exit
    code.
    """
    # POSIX: the child shares our code
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=target, args=(*args, theirs))
    child.start()
    theirs.close()  # the child holds its own copy
    received: list[object] = []
    try:
        while len(received) < messages:
            if not ours.poll(timeout):
                raise TimeoutError(
                    f"child sent {len(received)} of {messages} messages"
                )
            received.append(ours.recv())
    finally:
        child.kill()  # SIGKILL: no exception, no finally, no flush, no atexit
        child.join(30)
        ours.close()
    exit_code = child.exitcode
    child.close()
    return received, exit_code


# --8<-- [end:kill]


# --8<-- [start:children]
def torn_write_child(path: str, pipe: Connection) -> None:
    """Child: store two records, then write half of a big one and wait to
    die."""
    with contextlib.closing(LogStore(path)) as store:
        store.put(b"a", b"first")
        store.put(b"b", b"second")
    record = encode_record(b"big", b"x" * 100_000)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    # the first piece of a large write
    write_all(fd, record[: len(record) // 2])
    pipe.send(len(record) // 2)  # tell the parent how far we got...
    pipe.poll(30)  # ...and wait here: SIGKILL comes before the second piece
    os.close(fd)


def writer_child(
    path: str, count: int, piece_size: int, pipe: Connection
) -> None:
    """Child: put `count` records of growing size; acknowledge each after
    fsync."""
    with contextlib.closing(LogStore(path, piece_size=piece_size)) as store:
        for i in range(count):
            store.put(b"key-%05d" % i, value_for(i))
            pipe.send(i)  # acknowledged: this record is durable
    pipe.poll(30)


def value_for(i: int) -> bytes:
    """The value the writer child stores under key number i (1 to 64 KiB)."""
    return bytes([i % 251]) * (1024 * (1 + i % 64))


# --8<-- [end:children]


if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:demo_basic]
    import contextlib
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kv.log")
        with contextlib.closing(LogStore(path)) as store:
            store.put(b"user:1", b"Ada")
            store.put(b"user:2", b"Grace")
            store.put(b"user:1", b"Ada Lovelace")  # an update is a newer record
            store.delete(b"user:2")  # a delete is a tombstone record
        # restart: replay the log
        with contextlib.closing(LogStore(path)) as store:
            print(store.get(b"user:1"), store.get(b"user:2"), store.keys())
            #> b'Ada Lovelace' None [b'user:1']
            print(len(store.recovery.records), store.recovery.problem)
            #> 4 None
    # --8<-- [end:demo_basic]

    # --8<-- [start:demo_crash]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kv.log")
        [half], exit_code = kill_after_messages(torn_write_child, (path,), 1)
        print(exit_code, half, os.path.getsize(path))
        #> -9 50007 50044
        with contextlib.closing(LogStore(path)) as store:
            print(store.keys(), store.get(b"big"))
            #> [b'a', b'b'] None
            print(store.recovery.problem)
            #> offset 37: record needs 100015 bytes
            print(store.recovery.valid_end, os.path.getsize(path))
            #> 37 37
    # --8<-- [end:demo_crash]

    # --8<-- [start:demo_bitrot]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kv.log")
        with contextlib.closing(LogStore(path)) as store:
            for i in range(100):  # 100 records of 17 bytes, each one fsynced
                store.put(b"%03d" % i, b"ok")
        with open(path, "r+b") as log:
            data = bytearray(log.read())
            data[17 + 15] ^= 1  # the disk flips one bit in record 2's value
            log.seek(0)
            log.write(data)
        try:
            with contextlib.closing(LogStore(path)):
                pass
        except CorruptLog as error:
            print(error)
            #> offset 17: CRC-32 does not match; an intact record follows at 34
        print(os.path.getsize(path))
        #> 1700
    # --8<-- [end:demo_bitrot]

    # --8<-- [start:demo_sqlite]
    with (
        tempfile.TemporaryDirectory() as tmp,
        contextlib.closing(RichSqliteStore(os.path.join(tmp, "kv.db"))) as db,
    ):
        db.put(b"user:1", b"Ada")
        db.put(b"user:2", b"Grace")
        db.put(b"user:1", b"Ada Lovelace")
        db.delete(b"user:2")
        print(db.get(b"user:1"), db.get(b"user:2"), db.keys())
        #> b'Ada Lovelace' None [b'user:1']
        try:
            db.put_many([(b"user:3", b"Edsger"), (b"user:4", None)])
        except sqlite3.IntegrityError as error:
            print("batch refused:", error)
            #> batch refused: NOT NULL constraint failed: kv.value
        print(db.keys())
        #> [b'user:1']
        print(
            db.plan("SELECT * FROM kv WHERE key >= ? AND key < ?", (b"u", b"v"))
        )
        #> SEARCH kv USING PRIMARY KEY (key>? AND key<?)
    # --8<-- [end:demo_sqlite]

    # --8<-- [start:demo_compact]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kv.log")
        with contextlib.closing(LogStore(path)) as store:
            for i in range(100):
                store.put(b"counter", str(i).encode())
        before = os.path.getsize(path)
        compact_log(path)
        with contextlib.closing(LogStore(path)) as store:
            print(before, os.path.getsize(path), store.get(b"counter"))
            #> 2090 21 b'99'
    # --8<-- [end:demo_compact]
    # fmt: on
