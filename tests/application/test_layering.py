"""The layering page's claims: the service does not care where tasks are stored.

Oracles: one service test suite runs unchanged against the in-memory repository and the
SQLite one (sqlite3 is the real database; each connection is closed with
`contextlib.closing`), so any behaviour that differs between them fails the suite for
one of the two. The HTTP side is tested with the shared test client against the composed
app on loopback (framing and body limits are the core's, tested once for the whole
site), and the handler alone with a fake service, which is what dependency injection
buys.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from snippets.application import layering as lay
from snippets.application.app_core import Request, Response
from snippets.communication.http_messages.message_server import MessageServer
from tests.helpers import TIMEOUT, Reply, http_request, run_demo


@pytest.fixture(params=["memory", "sqlite"])
def repository(request, tmp_path) -> Iterator[lay.TaskRepository]:
    if request.param == "memory":
        yield lay.InMemoryTaskRepository()
        return
    database = tmp_path / "tasks.db"
    with contextlib.closing(sqlite3.connect(database, check_same_thread=False)) as db:
        yield lay.SqliteTaskRepository(db)


@pytest.fixture
def service(repository) -> lay.TaskService:
    return lay.TaskService(repository, max_open=3)


# --- One service suite, two repositories ----------------------------------------------


def test_both_repositories_satisfy_the_protocol(repository) -> None:
    assert isinstance(repository, lay.TaskRepository)


def test_an_object_missing_a_method_is_not_a_repository() -> None:
    class Incomplete:
        def add(self, title: str) -> lay.Task:
            return lay.Task(1, title)

    assert not isinstance(Incomplete(), lay.TaskRepository)


def test_create_then_get_and_list(service) -> None:
    first = service.create("  write   the page ")
    second = service.create("review")
    assert first == lay.Task(1, "write the page", done=False)
    assert service.get(first.id) == first
    assert service.list_all() == [first, second]


def test_ids_are_never_reused_after_a_delete(service) -> None:
    """Without AUTOINCREMENT, SQLite would hand out the id of a deleted last row."""
    service.create("a")
    last = service.create("b")
    service.delete(last.id)
    assert service.create("c").id == last.id + 1


def test_the_work_in_progress_limit_holds(service) -> None:
    tasks = [service.create(f"task {n}") for n in range(3)]
    with pytest.raises(lay.RuleBroken, match="at most 3 open tasks"):
        service.create("one too many")
    service.update(tasks[0].id, title=None, done=True)
    assert service.create("now there is room").id == 4


def test_deleting_an_open_task_frees_a_slot(service) -> None:
    tasks = [service.create(f"task {n}") for n in range(3)]
    service.delete(tasks[1].id)
    assert service.create("fits again").title == "fits again"


def test_a_done_task_is_final(service) -> None:
    task = service.create("ship it")
    done = service.update(task.id, title=None, done=True)
    assert done.done
    with pytest.raises(lay.RuleBroken):
        service.update(task.id, title="ship it again", done=None)
    with pytest.raises(lay.RuleBroken):
        service.update(task.id, title=None, done=False)
    assert service.update(task.id, title=None, done=True) == done  # idempotent
    assert service.get(task.id) == done


def test_rename_and_complete_in_one_update(service) -> None:
    task = service.create("draft")
    assert service.update(task.id, title="final", done=True) == lay.Task(
        task.id, "final", done=True
    )


@pytest.mark.parametrize("title", ["", "   ", "x" * 101])
def test_a_title_must_have_1_to_100_characters(service, title: str) -> None:
    with pytest.raises(lay.InvalidInput):
        service.create(title)
    task = service.create("ok")
    with pytest.raises(lay.InvalidInput):
        service.update(task.id, title=title, done=None)
    assert service.get(task.id).title == "ok"


def test_missing_tasks_are_not_found(service) -> None:
    with pytest.raises(lay.NotFound):
        service.get(99)
    with pytest.raises(lay.NotFound):
        service.update(99, title="x", done=None)
    with pytest.raises(lay.NotFound):
        service.delete(99)


def test_titles_are_data_not_sql(service) -> None:
    title = "Robert'); DROP TABLE tasks;--"
    task = service.create(title)
    assert service.get(task.id).title == title
    assert len(service.list_all()) == 1


def test_the_limit_holds_under_concurrent_creates(service) -> None:
    """The service lock makes "count, then add" one step: 3 of 20 racers win."""
    barrier = threading.Barrier(20, timeout=TIMEOUT)

    def racer(n: int) -> bool:
        barrier.wait()
        try:
            service.create(f"racer {n}")
        except lay.RuleBroken:
            return False
        return True

    with ThreadPoolExecutor(max_workers=20) as pool:
        wins = list(pool.map(racer, range(20)))
    assert sum(wins) == 3
    assert len(service.list_all()) == 3


def test_sqlite_tasks_outlive_the_connection(tmp_path) -> None:
    database = tmp_path / "tasks.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        lay.TaskService(lay.SqliteTaskRepository(db)).create("remember me")
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert lay.TaskService(lay.SqliteTaskRepository(db)).list_all() == [
            lay.Task(1, "remember me")
        ]


def test_the_service_code_uses_neither_http_nor_sql() -> None:
    """Docstrings may mention HTTP; the code of the service may not touch it."""
    names: set[str] = set()
    strings: list[str] = []
    for member in vars(lay.TaskService).values():
        function = getattr(member, "__func__", member)
        if inspect.isfunction(function):
            names.update(function.__code__.co_names)
            strings += [c for c in function.__code__.co_consts if isinstance(c, str)]
    assert names.isdisjoint(
        {"sqlite3", "json", "http", "HTTPStatus", "json_response", "problem"}
    )
    assert not any("select" in s.lower() or "insert" in s.lower() for s in strings)
    assert {"count_open", "add", "save"} <= names  # it does talk to the repository


# --- The handler, alone, with a fake service -------------------------------------------


class FakeService:
    """Stands in for TaskService: records calls, raises what it is told to."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple] = []

    def create(self, title: str) -> lay.Task:
        self.calls.append(("create", title))
        if self.error:
            raise self.error
        return lay.Task(7, title)

    def get(self, task_id: int) -> lay.Task:
        self.calls.append(("get", task_id))
        raise lay.NotFound(f"no task {task_id}")


def handle(service, method: str, path: str, body: bytes = b"") -> Response:
    """The service's handler called directly, as the server would call it."""
    return lay.task_app(service)(Request(method, path, body=body))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (lay.RuleBroken("full"), 409),
        (lay.NotFound("gone"), 404),
        (lay.InvalidInput("bad"), 422),
    ],
)
def test_the_handler_maps_each_domain_error_to_one_status(error, status) -> None:
    fake = FakeService(error)
    response = handle(fake, "POST", "/tasks", b'{"title": "t"}')
    assert response.status == status
    assert response.header("Content-Type") == "application/problem+json"
    assert response.json()["detail"] == str(error)
    assert fake.calls == [("create", "t")]


def test_the_handler_answers_201_with_a_location() -> None:
    response = handle(FakeService(), "POST", "/tasks", b'{"title": "t"}')
    assert (response.status, response.header("Location")) == (201, "/tasks/7")
    assert response.json() == {"id": 7, "title": "t", "done": False, "href": "/tasks/7"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/tasks", b"{not json", 400),
        ("POST", "/tasks", b"\xff", 400),
        ("POST", "/tasks", b"[" * 5000 + b"]" * 5000, 400),
        ("POST", "/tasks", b"[]", 422),
        ("POST", "/tasks", b"{}", 422),
        ("POST", "/tasks", b'{"title": 5}', 422),
        ("PATCH", "/tasks/1", b'{"done": "yes"}', 422),
        ("PUT", "/tasks", b"", 405),
        ("POST", "/tasks/1", b"", 405),
        ("GET", "/tasks/0", b"", 404),
        ("GET", "/tasks/abc", b"", 404),
        ("GET", "/elsewhere", b"", 404),
    ],
)
def test_the_handler_refuses_what_it_cannot_turn_into_a_call(
    method: str, path: str, body: bytes, status: int
) -> None:
    fake = FakeService()
    response = handle(fake, method, path, body)
    assert response.status == status
    assert fake.calls == []  # the service never saw it
    if status == 405:
        assert response.header("Allow")


# --- The composed app, over HTTP --------------------------------------------------------


@pytest.fixture(params=[None, ":memory:"], ids=["memory", "sqlite"])
def app(request) -> Iterator[MessageServer]:
    with lay.compose_app(request.param, max_open=2) as server:
        yield server


def send(server, method: str, target: str, document: object = None) -> Reply:
    body = b"" if document is None else json.dumps(document).encode()
    return http_request(server, method, target, body=body)


def test_crud_over_http(app) -> None:
    created = send(app, "POST", "/tasks", {"title": "buy milk"})
    assert (created.status, created.header("Location")) == (201, "/tasks/1")
    assert send(app, "GET", "/tasks/1").json() == created.json()
    assert send(app, "GET", "/tasks").json() == [created.json()]
    renamed = send(app, "PATCH", "/tasks/1", {"title": "buy oat milk"})
    assert (renamed.status, renamed.json()["title"]) == (200, "buy oat milk")
    done = send(app, "PATCH", "/tasks/1", {"done": True})
    assert (done.status, done.json()["done"]) == (200, True)
    deleted = send(app, "DELETE", "/tasks/1")
    assert (deleted.status, deleted.body) == (204, b"")
    assert send(app, "GET", "/tasks/1").status == 404
    assert send(app, "GET", "/tasks").json() == []


def test_rules_come_back_as_409_and_bad_input_as_422(app) -> None:
    send(app, "POST", "/tasks", {"title": "one"})
    send(app, "POST", "/tasks", {"title": "two"})
    full = send(app, "POST", "/tasks", {"title": "three"})
    assert (full.status, full.json()["title"]) == (409, "Conflict")
    assert full.header("Content-Type") == "application/problem+json"
    empty = send(app, "PATCH", "/tasks/1", {"title": ""})
    assert (empty.status, empty.json()["status"]) == (422, 422)


def test_head_gets_the_fields_of_get_without_the_content(app) -> None:
    send(app, "POST", "/tasks", {"title": "one"})
    get, head = send(app, "GET", "/tasks/1"), send(app, "HEAD", "/tasks/1")
    assert (head.status, head.body) == (200, b"")
    assert head.header("Content-Length") == get.header("Content-Length")


def test_concurrent_http_requests_cannot_beat_the_limit(app) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(
                lambda n: send(app, "POST", "/tasks", {"title": f"t{n}"}), range(8)
            )
        )
    assert sorted(reply.status for reply in replies) == [201, 201] + [409] * 6


def test_a_file_database_keeps_tasks_between_two_runs_of_the_app(tmp_path) -> None:
    database = str(tmp_path / "app.db")
    with lay.compose_app(database) as server:
        send(server, "POST", "/tasks", {"title": "persist"})
    with lay.compose_app(database) as server:
        assert send(server, "GET", "/tasks").json()[0]["title"] == "persist"


def test_compose_app_stops_the_server_and_closes_the_database(
    tmp_path, monkeypatch
) -> None:
    connections: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def recording_connect(*args, **kwargs) -> sqlite3.Connection:
        connections.append(connect(*args, **kwargs))
        return connections[-1]

    monkeypatch.setattr(lay.sqlite3, "connect", recording_connect)
    before = set(threading.enumerate())
    with lay.compose_app(str(tmp_path / "app.db")) as server:
        address = server.server_address[:2]
        assert send(server, "GET", "/tasks").status == 200
        started = set(threading.enumerate()) - before
        assert started  # at least the serving thread
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=TIMEOUT).close()
    assert not started & set(threading.enumerate())  # every thread it started joined
    (connection,) = connections
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        connection.execute("SELECT 1")


def test_the_demo_runs_clean_as_a_reader_runs_it() -> None:
    """Its printed lines are checked on the page; here: exit 0, and nothing on stderr."""
    done = run_demo("snippets.application.layering", check=True)
    assert done.stderr == ""
