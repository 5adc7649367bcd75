"""The "why databases" page's claims, checked against real crashes and against SQLite.

Crashes are real: a forked child process is killed with SIGKILL while it writes.
The oracle is SQLite doing the same job through the same API.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import sqlite3
import stat
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import why_databases as wd

keys = st.binary(min_size=1, max_size=12)
values = st.none() | st.binary(max_size=40)
records = st.lists(st.tuples(keys, values), max_size=12)


def log_bytes(entries: list[tuple[bytes, bytes | None]]) -> tuple[bytes, list[int]]:
    """Encode entries back to back; return the log and the end offset of each record."""
    data, ends = b"", []
    for key, value in entries:
        data += wd.encode_record(key, value)
        ends.append(len(data))
    return data, ends


# --- the record format -------------------------------------------------------------


def test_a_record_is_crc_then_lengths_then_key_then_value() -> None:
    record = wd.encode_record(b"k", b"value")
    body = (1).to_bytes(4, "big") + (5).to_bytes(4, "big") + b"k" + b"value"
    assert record == zlib.crc32(body).to_bytes(4, "big") + body


def test_a_delete_is_a_tombstone_length() -> None:
    record = wd.encode_record(b"k", None)
    assert record[8:12] == b"\xff\xff\xff\xff"
    assert wd.decode_record(record, 0) == (wd.Record(b"k", None), len(record))


@pytest.mark.parametrize(
    ("key", "value"),
    [(b"", b"v"), (b"k" * (wd.MAX_KEY + 1), b"v"), (b"k", b"v" * (wd.MAX_VALUE + 1))],
    ids=["empty key", "key too long", "value too long"],
)
def test_encoding_refuses_keys_and_values_out_of_limits(
    key: bytes, value: bytes
) -> None:
    with pytest.raises(ValueError, match="must be"):
        wd.encode_record(key, value)


@settings(max_examples=100)
@given(records)
def test_scanning_an_encoded_log_returns_every_record_in_order(entries) -> None:
    data, ends = log_bytes(entries)
    recovery = wd.scan_log(data)
    assert [record for _, record in recovery.records] == [
        wd.Record(k, v) for k, v in entries
    ]
    assert [offset for offset, _ in recovery.records] == [0, *ends][: len(ends)]
    assert (recovery.valid_end, recovery.problem) == (len(data), None)


@settings(max_examples=150)
@given(records, st.data())
def test_any_prefix_of_a_valid_log_recovers_exactly_the_complete_records(
    entries, data
) -> None:
    log, ends = log_bytes(entries)
    cut = data.draw(st.integers(0, len(log)), label="cut")
    recovery = wd.scan_log(log[:cut])
    complete = [e for e, end in zip(entries, ends, strict=True) if end <= cut]
    assert [tuple(record) for _, record in recovery.records] == complete
    assert recovery.valid_end == (ends[len(complete) - 1] if complete else 0)
    if cut == recovery.valid_end:
        assert recovery.problem is None
    else:
        assert isinstance(recovery.problem, wd.TornRecord)


@settings(max_examples=150)
@given(st.lists(st.tuples(keys, values), min_size=1, max_size=8), st.data())
def test_a_flipped_byte_is_detected_and_its_record_never_returned(
    entries, data
) -> None:
    log, ends = log_bytes(entries)
    position = data.draw(st.integers(0, len(log) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    damaged = bytearray(log)
    damaged[position] ^= flip
    damaged_record = next(i for i, end in enumerate(ends) if position < end)
    recovery = wd.scan_log(bytes(damaged))
    assert [tuple(r) for _, r in recovery.records] == entries[:damaged_record]
    assert isinstance(recovery.problem, wd.CorruptRecord)


def test_a_tail_of_zeros_is_detected_as_corrupt() -> None:
    """After a power cut a file can end in zeros: its size grew, its data never came."""
    log, _ = log_bytes([(b"a", b"1"), (b"b", b"2")])
    recovery = wd.scan_log(log + bytes(4096))
    assert len(recovery.records) == 2
    assert recovery.valid_end == len(log)
    assert isinstance(recovery.problem, wd.CorruptRecord)
    assert "impossible lengths" in str(recovery.problem)


def test_a_huge_length_field_is_refused_without_reading_it() -> None:
    header = wd.HEADER.pack(0, 1, 0x7FFF_FFFF)
    with pytest.raises(wd.CorruptRecord, match="impossible lengths"):
        wd.decode_record(header + b"k", 0)


def test_a_record_with_a_wrong_checksum_raises_checksum_mismatch() -> None:
    record = bytearray(wd.encode_record(b"key", b"value"))
    record[-1] ^= 1
    with pytest.raises(wd.ChecksumMismatch):
        wd.decode_record(bytes(record), 0)


# --- the store on disk --------------------------------------------------------------


def test_reopening_replays_puts_updates_and_deletes(tmp_path: Path) -> None:
    path = str(tmp_path / "kv.log")
    with contextlib.closing(wd.LogStore(path)) as store:
        store.put(b"a", b"1")
        store.put(b"b", b"2")
        store.put(b"a", b"3")
        store.delete(b"b")
        store.delete(b"never stored")  # nothing to forget: no record
    with contextlib.closing(wd.LogStore(path)) as store:
        assert (store.get(b"a"), store.get(b"b"), store.keys()) == (b"3", None, [b"a"])
        assert len(store.recovery.records) == 4


@settings(max_examples=50)
@given(records, st.data())
def test_a_truncated_log_file_reopens_with_the_complete_records_and_is_cut_there(
    tmp_path_factory: pytest.TempPathFactory, entries, data
) -> None:
    log, ends = log_bytes(entries)
    cut = data.draw(st.integers(0, len(log)), label="cut")
    path = tmp_path_factory.mktemp("prefix") / "kv.log"
    path.write_bytes(log[:cut])
    expected: dict[bytes, bytes] = {}
    for (key, value), end in zip(entries, ends, strict=True):
        if end > cut:
            break
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    with contextlib.closing(wd.LogStore(str(path))) as store:
        found = store.keys()
        assert {key: store.get(key) for key in found} == expected
        assert path.stat().st_size == store.recovery.valid_end
        store.put(b"after", b"crash")  # new records follow the last good one
    with contextlib.closing(wd.LogStore(str(path))) as store:
        assert store.get(b"after") == b"crash"
        assert store.recovery.problem is None


def write_log(path: Path, count: int) -> bytes:
    """Put keys 000, 001, ... with value "ok" through a LogStore: 17-byte records."""
    with contextlib.closing(wd.LogStore(str(path))) as store:
        for i in range(count):
            store.put(b"%03d" % i, b"ok")
    return path.read_bytes()


def test_one_flipped_bit_in_record_2_of_100_refuses_to_open_and_cuts_nothing(
    tmp_path: Path,
) -> None:
    """The review's case: cutting at the first bad record cut 1,700 bytes to 17."""
    path = tmp_path / "kv.log"
    log = write_log(path, 100)
    assert len(log) == 1700
    damaged = bytearray(log)
    damaged[17 + 15] ^= 1  # one bit of record 2's value
    path.write_bytes(damaged)
    with pytest.raises(wd.CorruptLog, match="CRC-32 does not match; an intact record"):
        wd.LogStore(str(path))
    assert path.read_bytes() == damaged  # nothing truncated
    path.write_bytes(log)  # the bit repaired (from a backup, say): all 100 are there
    with contextlib.closing(wd.LogStore(str(path))) as store:
        assert len(store.keys()) == 100


def test_a_length_field_damaged_to_point_past_the_end_is_not_a_torn_tail(
    tmp_path: Path,
) -> None:
    """Record 2 now claims 1 MiB: the replay sees a torn record, but 98 follow it."""
    path = tmp_path / "kv.log"
    damaged = bytearray(write_log(path, 100))
    damaged[17 + 8 : 17 + 12] = (1 << 20).to_bytes(4, "big")  # its value length
    path.write_bytes(damaged)
    assert isinstance(wd.scan_log(bytes(damaged)).problem, wd.TornRecord)
    with pytest.raises(wd.CorruptLog, match="needs 1048591 bytes; an intact record"):
        wd.LogStore(str(path))
    assert path.read_bytes() == damaged


@settings(max_examples=100)
@given(st.lists(st.tuples(keys, values), min_size=2, max_size=8), st.data())
def test_one_flipped_byte_costs_at_most_the_last_record_and_never_a_silent_cut(
    tmp_path_factory: pytest.TempPathFactory, entries, data
) -> None:
    """Damage before the last record: refused, file untouched. In the last record:
    either refused, or cut like a torn tail with every earlier record kept."""
    log, ends = log_bytes(entries)
    position = data.draw(st.integers(0, len(log) - 1), label="position")
    damaged = bytearray(log)
    damaged[position] ^= data.draw(st.integers(1, 255), label="xor")
    path = tmp_path_factory.mktemp("flip") / "kv.log"
    path.write_bytes(damaged)
    last_start = ends[-2]
    try:
        store = wd.LogStore(str(path))
    except wd.CorruptLog:
        assert path.read_bytes() == damaged
        return
    with contextlib.closing(store):
        assert position >= last_start  # only the last record may be cut
        assert [tuple(r) for _, r in store.recovery.records] == entries[:-1]
    assert path.read_bytes() == log[:last_start]


def test_a_tail_of_zeros_is_cut_when_the_store_opens(tmp_path: Path) -> None:
    """A power cut can keep a file's new size but not its data: a torn tail too."""
    path = tmp_path / "kv.log"
    log = write_log(path, 3)
    path.write_bytes(log + bytes(4096))
    with contextlib.closing(wd.LogStore(str(path))) as store:
        assert len(store.keys()) == 3
    assert path.read_bytes() == log


def test_compaction_refuses_a_log_damaged_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "kv.log"
    damaged = bytearray(write_log(path, 10))
    damaged[17 * 4 + 13] ^= 0x40  # a key byte of record 5
    path.write_bytes(damaged)
    with pytest.raises(wd.CorruptLog, match="offset 68"):
        wd.compact_log(str(path))
    assert path.read_bytes() == damaged
    assert os.listdir(tmp_path) == ["kv.log"]


def test_next_intact_record_finds_a_record_at_any_offset_and_key_length() -> None:
    for key_length in (1, 255, 256, 768, 1023, 1024):
        garbage = b"\x00\x00\x00\x00\xff" * 3
        data = garbage + wd.encode_record(b"k" * key_length, b"v")
        assert wd.next_intact_record(data, 0) == len(garbage)
    assert wd.next_intact_record(bytes(4096), 0) is None


def test_get_verifies_the_checksum_again_and_refuses_bit_rot(tmp_path: Path) -> None:
    path = tmp_path / "kv.log"
    with contextlib.closing(wd.LogStore(str(path))) as store:
        store.put(b"k", b"value")
        damaged = bytearray(path.read_bytes())
        damaged[-1] ^= 0x20  # the disk flips a bit after we opened the log
        path.write_bytes(damaged)
        with pytest.raises(wd.ChecksumMismatch):
            store.get(b"k")


def test_two_log_stores_on_one_file_corrupt_each_others_index(tmp_path: Path) -> None:
    """No concurrency control: each process's index goes stale. SQLite has locks."""
    path = str(tmp_path / "kv.log")
    with (
        contextlib.closing(wd.LogStore(path)) as first,
        contextlib.closing(wd.LogStore(path)) as second,
    ):
        first.put(b"one", b"1")
        second.put(b"two", b"2")  # lands after "one", but second thinks offset 0
        assert first.get(b"two") is None  # first never sees it
        with pytest.raises(wd.CorruptRecord, match="holds b'one', not b'two'"):
            second.get(b"two")


def test_two_sqlite_connections_see_each_others_commits(tmp_path: Path) -> None:
    path = str(tmp_path / "kv.db")
    with (
        contextlib.closing(wd.SqliteStore(path)) as first,
        contextlib.closing(wd.SqliteStore(path)) as second,
    ):
        first.put(b"one", b"1")
        second.put(b"two", b"2")
        assert first.get(b"two") == b"2"
        assert second.keys() == [b"one", b"two"]


def test_a_new_log_fsyncs_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    path = str(tmp_path / "kv.log")
    with contextlib.closing(wd.LogStore(path)) as store:
        assert synced == ["dir"]
        store.put(b"k", b"v")
        assert synced == ["dir", "file"]
    with contextlib.closing(wd.LogStore(path)):
        assert synced == ["dir", "file"]  # an existing file: nothing new to sync


def test_a_failed_fsync_closes_the_store_and_a_reopen_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "kv.log")
    with contextlib.closing(wd.LogStore(path)) as store:
        store.put(b"safe", b"1")

        def failing_fsync(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(OSError, match="Input/output error"):
            store.put(b"unsure", b"2")
        monkeypatch.undo()
        with pytest.raises(ValueError, match="closed"):
            store.get(b"safe")
        with pytest.raises(ValueError, match="closed"):
            store.put(b"more", b"3")
        store.close()  # closing twice is harmless
    with contextlib.closing(wd.LogStore(path)) as store:
        assert store.get(b"safe") == b"1"


def test_compaction_keeps_live_values_and_drops_the_rest(tmp_path: Path) -> None:
    path = str(tmp_path / "kv.log")
    with contextlib.closing(wd.LogStore(path)) as store:
        for i in range(50):
            store.put(b"counter", b"%d" % i)
        store.put(b"gone", b"x")
        store.delete(b"gone")
        store.put(b"kept", b"y")
    before = os.path.getsize(path)
    wd.compact_log(path)
    with contextlib.closing(wd.LogStore(path)) as store:
        assert store.keys() == [b"counter", b"kept"]
        assert (store.get(b"counter"), store.get(b"kept")) == (b"49", b"y")
        assert len(store.recovery.records) == 2
    assert os.path.getsize(path) < before / 20
    assert os.listdir(tmp_path) == ["kv.log"]  # no temporary file left


def test_write_all_writes_every_piece() -> None:
    read_end, write_end = os.pipe()
    try:
        wd.write_all(write_end, b"abcdefghij", piece_size=3)
        assert os.read(read_end, 100) == b"abcdefghij"
    finally:
        os.close(read_end)
        os.close(write_end)


# --- real crashes: SIGKILL a child process while it writes --------------------------


def test_a_child_killed_in_the_middle_of_a_large_record_loses_only_that_record(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "kv.log")
    [half], exit_code = wd.kill_after_messages(wd.torn_write_child, (path,), 1)
    assert exit_code == -signal.SIGKILL
    size_after_crash = os.path.getsize(path)
    with contextlib.closing(wd.LogStore(path)) as store:
        assert store.keys() == [b"a", b"b"]
        assert (store.get(b"a"), store.get(b"b"), store.get(b"big")) == (
            b"first",
            b"second",
            None,
        )
        assert isinstance(store.recovery.problem, wd.TornRecord)
        assert size_after_crash - store.recovery.valid_end == half
    assert os.path.getsize(path) == store.recovery.valid_end


@pytest.mark.parametrize("seed", range(6))
def test_a_child_killed_at_a_random_point_keeps_every_acknowledged_record(
    tmp_path: Path, seed: int
) -> None:
    """The child acknowledges a record after its fsync; the parent kills it after
    a random number of acknowledgements, while it is most likely writing the next
    record in 64-byte pieces (about half of such kills tear a record here).
    Recovery finds a prefix of the records, at least as long as the acknowledged
    ones, every value intact, and nothing of a torn record."""
    acknowledged = random.Random(seed).randint(1, 40)
    path = str(tmp_path / "kv.log")
    acks, exit_code = wd.kill_after_messages(
        wd.writer_child, (path, 200, 64), acknowledged
    )
    assert exit_code == -signal.SIGKILL
    assert acks == list(range(acknowledged))
    with contextlib.closing(wd.LogStore(path)) as store:
        found = store.keys()
        assert len(found) >= acknowledged
        assert found == [b"key-%05d" % i for i in range(len(found))]
        assert all(
            store.get(b"key-%05d" % i) == wd.value_for(i) for i in range(len(found))
        )
        problem = store.recovery.problem
        assert problem is None or isinstance(problem, wd.TornRecord)


def test_the_parent_gives_up_on_a_child_that_never_reports() -> None:
    def silent_child(pipe) -> None:
        pipe.poll(30)  # waits, sends nothing

    with pytest.raises(TimeoutError, match="0 of 1 messages"):
        wd.kill_after_messages(silent_child, (), 1, timeout=0.2)


def test_the_parent_sees_a_child_that_died_without_reporting() -> None:
    def dying_child(pipe) -> None:
        pipe.close()

    with pytest.raises(EOFError):
        wd.kill_after_messages(dying_child, (), 1)


# --- the oracle: SQLite doing the same job ------------------------------------------

operations = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.sampled_from([b"a", b"b", b"c"]))
    | st.tuples(st.just("put"), keys),
    max_size=30,
)


@settings(max_examples=40)
@given(operations)
def test_the_log_store_answers_like_sqlite_for_any_sequence_of_operations(
    tmp_path_factory: pytest.TempPathFactory, ops
) -> None:
    """SQLite in memory is the oracle for the answers; our log is on disk."""
    log_path = str(tmp_path_factory.mktemp("oracle") / "kv.log")
    with (
        contextlib.closing(wd.LogStore(log_path)) as ours,
        contextlib.closing(wd.SqliteStore(":memory:")) as oracle,
    ):
        for step, (operation, key) in enumerate(ops):
            if operation == "put":
                ours.put(key, b"value %d" % step)
                oracle.put(key, b"value %d" % step)
            else:
                ours.delete(key)
                oracle.delete(key)
        expected = {key: oracle.get(key) for key in oracle.keys()}  # noqa: SIM118
        assert {key: ours.get(key) for key in ours.keys()} == expected  # noqa: SIM118
    with contextlib.closing(wd.LogStore(log_path)) as reopened:
        assert {key: reopened.get(key) for key in reopened.keys()} == expected  # noqa: SIM118


def test_the_sqlite_store_keeps_its_data_across_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "kv.db")
    with contextlib.closing(wd.SqliteStore(path)) as db:
        db.put(b"a", b"1")
        db.put(b"a", b"2")
        db.put(b"b", b"3")
        db.delete(b"b")
    with contextlib.closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT key, value FROM kv").fetchall() == [(b"a", b"2")]
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_sqlite_batch_is_all_or_nothing(tmp_path: Path) -> None:
    with contextlib.closing(wd.RichSqliteStore(str(tmp_path / "kv.db"))) as db:
        db.put_many([(b"x", b"1"), (b"y", b"2")])
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
            db.put_many([(b"z", b"3"), (b"w", None)])  # type: ignore[list-item]
        assert db.keys() == [b"x", b"y"]


@settings(max_examples=100)
@given(st.lists(st.binary(min_size=1, max_size=4), max_size=20), st.binary(max_size=3))
def test_a_prefix_scan_finds_exactly_the_keys_that_start_with_the_prefix(
    stored, prefix
) -> None:
    with contextlib.closing(wd.RichSqliteStore(":memory:")) as db:
        db.put_many([(key, key) for key in stored])  # one transaction: one fsync
        expected = sorted({k for k in stored if k.startswith(prefix)})
        assert [k for k, _ in db.scan(prefix)] == expected


def test_the_prefix_scan_is_a_range_search_on_the_primary_key(tmp_path: Path) -> None:
    with contextlib.closing(wd.RichSqliteStore(str(tmp_path / "kv.db"))) as db:
        plan = db.plan("SELECT * FROM kv WHERE key >= ? AND key < ?", (b"u", b"v"))
        assert plan.startswith("SEARCH kv USING PRIMARY KEY")


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"user:", b"user;"), (b"a\xff", b"b"), (b"\xff\xff", None), (b"", None)],
)
def test_prefix_end_is_the_first_key_past_the_prefix(prefix: bytes, end) -> None:
    assert wd.prefix_end(prefix) == end


def test_the_children_run_in_process_leave_the_same_log(tmp_path: Path) -> None:
    """The children's code, run here (coverage cannot follow a killed child): a
    writer that stops after half a record leaves the same torn tail as a kill."""
    ours, theirs = multiprocessing.Pipe()
    with contextlib.closing(ours), contextlib.closing(theirs):
        ours.send("stop waiting")  # so the child's final poll returns at once
        wd.writer_child(str(tmp_path / "w.log"), 3, 64, theirs)
        assert [ours.recv() for _ in range(3)] == [0, 1, 2]
        ours.send("stop waiting")
        wd.torn_write_child(str(tmp_path / "t.log"), theirs)
        assert ours.recv() == 50007
    with contextlib.closing(wd.LogStore(str(tmp_path / "w.log"))) as store:
        assert store.get(b"key-00002") == wd.value_for(2)
    with contextlib.closing(wd.LogStore(str(tmp_path / "t.log"))) as store:
        assert store.keys() == [b"a", b"b"]
        assert isinstance(store.recovery.problem, wd.TornRecord)
