"""The MVCC page's claims, run against a real PostgreSQL.

The oracle is PostgreSQL itself (Debian's `postgresql` package): one throwaway
cluster per module, started by the snippet's `throwaway_cluster` in a temporary
folder, on a Unix socket only, and stopped at the end. Every anomaly is staged
with two real connections at each isolation level; the table on the page must
be the table these runs produce. Without PostgreSQL the module is skipped with
the command that installs it, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_examples import EvalExample, find_examples

from snippets.data import mvcc_postgres as pg
from tests.helpers import require_tool
from tests.site.docs_tools import DOCS, expand_includes

PAGE = DOCS / "data" / "mvcc_postgres.md"
# The page's blocks that need a server carry this reason in their fence; the
# docs test skips them and the page test below runs them here, on our cluster.
# (pytest-examples lowercases fence settings)
NEEDS_POSTGRES = "needs postgresql"
STARTS_POSTGRES = "starts postgresql"


def require_postgres() -> Path:
    """The folder of initdb and pg_ctl: a skip (locally) or a failure (CI)."""
    bindir = pg.postgres_bindir()
    if bindir is None:  # not on PATH either: require_tool skips or fails
        require_tool("initdb", "postgresql")
    return bindir


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    require_postgres()
    with pg.throwaway_cluster() as conninfo:
        yield conninfo


def show(dsn: str, setting: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SHOW {setting}").fetchone()[0]


# --- the throwaway cluster ---------------------------------------------------


def test_cluster_listens_on_its_unix_socket_and_no_tcp_port(dsn) -> None:
    assert show(dsn, "listen_addresses") == ""
    folder = re.search(r"host=(\S+)", dsn)[1]
    assert show(dsn, "unix_socket_directories") == folder
    assert list(Path(folder).glob(".s.PGSQL.*"))  # the socket file


def test_cluster_is_postgresql_15_or_later(dsn) -> None:
    assert int(show(dsn, "server_version_num")) >= 150000


def test_cluster_is_stopped_and_deleted_even_when_the_block_fails(
    dsn,
) -> None:
    seen = []
    with (  # noqa: PT012 (the cluster must be up when the error is raised)
        pytest.raises(RuntimeError, match="inside"),
        pg.throwaway_cluster() as other,
    ):
        seen.append(other)
        psycopg.connect(other).close()  # it runs
        raise RuntimeError("inside the with")
    (other,) = seen
    folder = Path(re.search(r"host=(\S+)", other)[1])
    assert not folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(other, connect_timeout=2)


def test_cluster_without_postgresql_says_how_to_install_it(
    monkeypatch,
) -> None:
    monkeypatch.setattr(pg, "postgres_bindir", lambda: None)
    cluster = pg.throwaway_cluster()
    with pytest.raises(FileNotFoundError, match="apt-get install postgresql"):
        cluster.__enter__()


def test_as_root_the_cluster_runs_as_an_unprivileged_account() -> None:
    prefix = pg.as_owner("nobody")
    assert prefix == (["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else [])


# --- versions, snapshots, VACUUM ---------------------------------------------


def test_update_writes_a_new_version_and_stamps_the_old_one(dsn) -> None:
    before, old, new = pg.tuple_versions(dsn)
    ((b_ctid, b_xmin, b_xmax, *_),) = before
    ((o_ctid, o_xmin, o_xmax, *o_values),) = old
    ((n_ctid, n_xmin, n_xmax, *n_values),) = new
    assert b_xmax == "0"  # no transaction deleted or replaced it yet
    assert (o_ctid, o_xmin) == (b_ctid, b_xmin)  # the old snapshot: same tuple
    assert o_xmax == n_xmin != "0"  # the UPDATE's transaction did both
    assert n_ctid != o_ctid  # a new tuple, elsewhere in the table
    assert n_xmax == "0"
    assert (o_values, n_values) == ([1, 100], [1, 150])


def test_vacuum_removes_dead_tuples_only_when_no_snapshot_needs_them(
    dsn,
) -> None:
    rows, updates = 10, 3  # as in vacuum_story
    assert pg.vacuum_story(dsn) == [rows * updates, rows * updates, 0]


# --- locks -------------------------------------------------------------------


def test_select_for_update_makes_the_second_writer_wait_and_read_the_new_value(
    dsn,
) -> None:
    assert pg.for_update_story(dsn) == (100 + 50, 100 + 50 + 20)


def test_a_deadlock_is_detected_and_exactly_one_transaction_is_aborted(
    dsn,
) -> None:
    assert pg.deadlock(dsn) == ["40P01", "committed"]


def test_waiting_for_a_lock_that_never_comes_times_out(dsn) -> None:
    with (
        pg.sessions(dsn) as (alice, observer),
        pytest.raises(TimeoutError, match="never waited"),
    ):
        pg.wait_until_blocked(observer, alice.info.backend_pid, 0.05)


# --- the anomalies -----------------------------------------------------------


@pytest.fixture(scope="module")
def table(dsn) -> dict[str, dict[str, str]]:
    return pg.anomaly_table(dsn)


def test_the_table_on_the_page_is_what_postgresql_did(table) -> None:
    assert pg.markdown_table(table) in PAGE.read_text(encoding="utf-8")


def test_postgresql_never_shows_a_dirty_read(table) -> None:
    assert {row["Dirty read"] for row in table.values()} == {"no"}


def test_read_uncommitted_behaves_as_read_committed(table) -> None:
    assert table["READ UNCOMMITTED"] == table["READ COMMITTED"]


def test_repeatable_read_refuses_a_lost_update_with_a_serialization_failure(
    dsn,
) -> None:
    assert pg.lost_update(dsn, "READ COMMITTED") == ("happens", "")
    cell, message = pg.lost_update(dsn, "REPEATABLE READ")
    assert cell == "error 40001"
    assert message == "could not serialize access due to concurrent update"


def test_serializable_refuses_write_skew_that_repeatable_read_allows(
    dsn,
) -> None:
    assert pg.write_skew(dsn, "REPEATABLE READ") == ("happens", "")
    cell, message = pg.write_skew(dsn, "SERIALIZABLE")
    assert cell == "error 40001"
    assert "read/write dependencies among transactions" in message


def test_serializable_prevents_every_anomaly_of_the_page(table) -> None:
    assert all(cell in {"no", "error 40001"} for cell in table["SERIALIZABLE"].values())


# --- the page ----------------------------------------------------------------


def test_page_blocks_that_need_postgresql_print_what_they_show(
    dsn, eval_example: EvalExample
) -> None:
    """The docs test skips the page's PostgreSQL blocks; they run here, in
    order, with our cluster's `dsn` in place of the block that starts one."""
    eval_example.set_config(line_length=88, target_version="py311")
    namespace: dict[str, object] = {"dsn": dsn}
    ran = 0
    for example in find_examples(PAGE):
        reason = example.prefix_settings().get("reason", "")
        if reason.startswith(STARTS_POSTGRES):
            continue
        source = expand_includes(example.source)
        expanded = dataclasses.replace(example, source=source)
        namespace.update(
            eval_example.run_print_check(expanded, module_globals=namespace)
        )
        ran += reason.startswith(NEEDS_POSTGRES)
    assert ran >= 5, "the page's PostgreSQL blocks were not found"
