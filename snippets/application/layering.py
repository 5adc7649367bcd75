"""Handlers, services, repositories: business rules kept apart from HTTP and storage.

What it teaches: a request crosses three layers, each with one job. The handler speaks
HTTP (method, path, JSON, status codes) and nothing else. The service holds the rules
of a small to-do domain: a title is 1 to 100 characters, at most `max_open` tasks may be
open at once (a work-in-progress limit), and a done task is final (it cannot be renamed
or reopened). The repository stores and loads tasks behind a `typing.Protocol`, with two
implementations: a dict in memory and SQLite. `compose_app` is the composition root, the
one function that knows the concrete classes and wires them together by hand
(dependency injection without a framework).

Read first: the validation page (parsing at the boundary) and the routing page.

What it leaves out: authentication, pagination (see the API design page), a unit of
work spanning several repositories, migrations, and more than one process (the service
lock that guards the work-in-progress limit only works inside one process; across
processes the database has to enforce it).

Run it: `python -m snippets.application.layering`.
"""

# --8<-- [start:domain]
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Task:
    """One to-do item, as the service and the repositories see it."""

    id: int
    title: str
    done: bool = False


class DomainError(Exception):
    """A business rule said no; the handler decides which status code that is."""


class NotFound(DomainError):
    """No task has this id."""


class RuleBroken(DomainError):
    """The request is understood, but the current state does not allow it."""


class InvalidInput(DomainError):
    """The input can never be right, whatever the state (an empty title)."""


# --8<-- [end:domain]


# --8<-- [start:protocol]
from typing import Protocol, runtime_checkable


@runtime_checkable
class TaskRepository(Protocol):
    """What the service needs from storage, and nothing more."""

    def add(self, title: str) -> Task:
        """Store a new open task and return it with its id."""
        ...

    def get(self, task_id: int) -> Task | None:
        """The task with this id, or None."""
        ...

    def list_all(self) -> list[Task]:
        """Every task, oldest first."""
        ...

    def save(self, task: Task) -> None:
        """Overwrite the stored task that has `task.id`."""
        ...

    def delete(self, task_id: int) -> bool:
        """Remove a task; False if there was none."""
        ...

    def count_open(self) -> int:
        """How many tasks are not done."""
        ...


# --8<-- [end:protocol]


# --8<-- [start:memory]
class InMemoryTaskRepository:
    """Tasks in a dict: fast, and gone when the process ends."""

    def __init__(self) -> None:
        self._tasks: dict[int, Task] = {}
        self._next_id = 1

    def add(self, title: str) -> Task:
        """Store a new open task and return it with its id."""
        task = Task(self._next_id, title)
        self._tasks[task.id] = task
        self._next_id += 1
        return task

    def get(self, task_id: int) -> Task | None:
        """The task with this id, or None."""
        return self._tasks.get(task_id)

    def list_all(self) -> list[Task]:
        """Every task, oldest first."""
        return sorted(self._tasks.values(), key=lambda task: task.id)

    def save(self, task: Task) -> None:
        """Overwrite the stored task that has `task.id`."""
        self._tasks[task.id] = task

    def delete(self, task_id: int) -> bool:
        """Remove a task; False if there was none."""
        return self._tasks.pop(task_id, None) is not None

    def count_open(self) -> int:
        """How many tasks are not done."""
        return sum(not task.done for task in self._tasks.values())


# --8<-- [end:memory]


# --8<-- [start:sqlite]
import contextlib
import sqlite3

SCHEMA = """CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
)"""


class SqliteTaskRepository:
    """Tasks in an SQLite table. The connection is the caller's to open and close."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        with self._db:  # a transaction: committed on success, rolled back on error
            self._db.execute(SCHEMA)

    def add(self, title: str) -> Task:
        """Store a new open task and return it with its id."""
        with self._db:
            cursor = self._db.execute("INSERT INTO tasks (title) VALUES (?)", (title,))
        return Task(cursor.lastrowid, title)

    def get(self, task_id: int) -> Task | None:
        """The task with this id, or None."""
        row = self._db.execute(
            "SELECT id, title, done FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        return Task(row[0], row[1], bool(row[2])) if row else None

    def list_all(self) -> list[Task]:
        """Every task, oldest first."""
        rows = self._db.execute("SELECT id, title, done FROM tasks ORDER BY id")
        return [Task(i, title, bool(done)) for i, title, done in rows]

    def save(self, task: Task) -> None:
        """Overwrite the stored task that has `task.id`."""
        with self._db:
            self._db.execute(
                "UPDATE tasks SET title = ?, done = ? WHERE id = ?",
                (task.title, int(task.done), task.id),
            )

    def delete(self, task_id: int) -> bool:
        """Remove a task; False if there was none."""
        with self._db:
            cursor = self._db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
        return cursor.rowcount == 1

    def count_open(self) -> int:
        """How many tasks are not done."""
        return self._db.execute("SELECT count(*) FROM tasks WHERE done = 0").fetchone()[
            0
        ]


# --8<-- [end:sqlite]


# --8<-- [start:service]
import dataclasses
import threading


class TaskService:
    """The rules of the to-do list. Knows nothing of HTTP, JSON or SQL."""

    def __init__(self, tasks: TaskRepository, max_open: int = 3) -> None:
        self._tasks = tasks
        self._max_open = max_open
        # Held for every operation: "count open tasks, then add one" must not
        # interleave with another request, or two requests could take the last slot.
        self._lock = threading.Lock()

    def create(self, title: str) -> Task:
        """Add an open task, if the work-in-progress limit allows one more."""
        title = self._clean(title)
        with self._lock:
            if self._tasks.count_open() >= self._max_open:
                raise RuleBroken(f"at most {self._max_open} open tasks: finish one")
            return self._tasks.add(title)

    def get(self, task_id: int) -> Task:
        """The task, or NotFound."""
        with self._lock:
            return self._get(task_id)

    def list_all(self) -> list[Task]:
        """Every task, oldest first."""
        with self._lock:
            return self._tasks.list_all()

    def update(self, task_id: int, title: str | None, done: bool | None) -> Task:
        """Rename and/or complete a task. A done task is final."""
        with self._lock:
            task = self._get(task_id)
            if task.done and (title is not None or done is False):
                raise RuleBroken("a done task cannot be renamed or reopened")
            if title is not None:
                task = dataclasses.replace(task, title=self._clean(title))
            if done:
                task = dataclasses.replace(task, done=True)
            self._tasks.save(task)
            return task

    def delete(self, task_id: int) -> None:
        """Remove a task, or NotFound."""
        with self._lock:
            if not self._tasks.delete(task_id):
                raise NotFound(f"no task {task_id}")

    def _get(self, task_id: int) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        return task

    @staticmethod
    def _clean(title: str) -> str:
        title = " ".join(title.split())  # one space between words, none at the ends
        if not 1 <= len(title) <= 100:
            raise InvalidInput("a title is 1 to 100 characters")
        return title


# --8<-- [end:service]


# --8<-- [start:handler]
import json
import re
from http import HTTPStatus

Response = tuple[int, dict[str, str], bytes]
ERROR_STATUS = {NotFound: 404, RuleBroken: 409, InvalidInput: 422}
TASK_PATH = re.compile(r"/tasks/([1-9][0-9]{0,9})")


def reply(status: int, document: object = None, **headers: str) -> Response:
    """A JSON response; a problem document for 4xx (RFC 9457, briefly)."""
    if document is None:
        return status, headers, b""
    media_type = "application/problem+json" if status >= 400 else "application/json"
    return (
        status,
        {"Content-Type": media_type, **headers},
        json.dumps(document).encode(),
    )


def problem(status: int, detail: str, **headers: str) -> Response:
    """A 4xx answer whose title is the status phrase (type about:blank)."""
    title = HTTPStatus(status).phrase
    return reply(
        status, {"title": title, "status": status, "detail": detail}, **headers
    )


def task_json(task: Task) -> dict[str, object]:
    """The representation of a task, with the link to itself."""
    return {"id": task.id, "title": task.title, "done": task.done, "href": href(task)}


def href(task: Task) -> str:
    """The URL path of a task."""
    return f"/tasks/{task.id}"


# --8<-- [end:handler]


# --8<-- [start:routes]
def handle(service: TaskService, method: str, path: str, body: bytes) -> Response:
    """HTTP in, HTTP out: parse, call one service method, map the result."""
    try:
        document = json.loads(body) if body else {}
    except (ValueError, RecursionError):  # RecursionError: [[[[... thousands deep
        return problem(400, "the body is not JSON")
    try:
        return route(service, method, path, document)
    except DomainError as error:
        return problem(ERROR_STATUS[type(error)], str(error))


def route(service: TaskService, method: str, path: str, document: object) -> Response:
    """Dispatch on method and path; every branch is one service call."""
    if path == "/tasks":
        if method == "GET":
            return reply(200, [task_json(t) for t in service.list_all()])
        if method == "POST":
            task = service.create(field(document, "title", str, required=True))
            return reply(201, task_json(task), Location=href(task))
        return problem(405, f"{method} is not allowed here", Allow="GET, POST")
    match = TASK_PATH.fullmatch(path)
    if match is None:
        return problem(404, f"no resource at {path}")
    task_id = int(match[1])
    if method == "GET":
        return reply(200, task_json(service.get(task_id)))
    if method == "PATCH":
        title, done = field(document, "title", str), field(document, "done", bool)
        return reply(200, task_json(service.update(task_id, title, done)))
    if method == "DELETE":
        service.delete(task_id)
        return reply(204)
    return problem(405, f"{method} is not allowed here", Allow="GET, PATCH, DELETE")


def field(document: object, name: str, kind: type, required: bool = False) -> object:
    """One member of the body, of the right JSON type, or InvalidInput."""
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    value = document.get(name)
    if value is None and not required:
        return None
    if type(value) is not kind:
        raise InvalidInput(f"{name} must be a {kind.__name__}")
    return value


# --8<-- [end:routes]


# --8<-- [start:adapter]
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024


class TaskServer(ThreadingHTTPServer):
    """An HTTP server on a free loopback port that serves one TaskService."""

    daemon_threads = False  # server_close() joins every handler thread

    def __init__(self, service: TaskService) -> None:
        super().__init__(("127.0.0.1", 0), TaskRequestHandler)
        self.service = service


class TaskRequestHandler(BaseHTTPRequestHandler):
    """Bytes to `handle` and back. No rule lives here."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1  # head and body in one write
    timeout = 5
    server: TaskServer

    def do_GET(self) -> None:
        """Every method takes the same path: read, handle, write."""
        length = self.headers.get("Content-Length", "0")
        if "Transfer-Encoding" in self.headers:
            status, headers, body = problem(411, "send a Content-Length")
        elif not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY:
            status, headers, body = problem(413, f"at most {MAX_BODY} bytes")
        else:
            content = self.rfile.read(int(length))
            status, headers, body = handle(
                self.server.service, self.command, self.path, content
            )
        self.send_response(status)
        if status in (411, 413):  # the body was not read: do not read it as a request
            self.send_header("Connection", "close")  # also sets close_connection
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the page shows."""


# --8<-- [end:adapter]


# --8<-- [start:compose]
from collections.abc import Iterator


@contextlib.contextmanager
def compose_app(database: str | None = None, max_open: int = 3) -> Iterator[TaskServer]:
    """The composition root: pick the concrete classes, wire them, run, clean up."""
    with contextlib.ExitStack() as cleanup:
        repository: TaskRepository
        if database is None:
            repository = InMemoryTaskRepository()
        else:  # one connection shared by the server's threads, under the service lock
            connection = sqlite3.connect(database, check_same_thread=False)
            cleanup.enter_context(contextlib.closing(connection))
            repository = SqliteTaskRepository(connection)
        server = TaskServer(TaskService(repository, max_open))
        cleanup.callback(server.server_close)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,))
        thread.start()
        cleanup.callback(thread.join, 5)
        cleanup.callback(server.shutdown)  # callbacks run last-in, first-out
        yield server


# --8<-- [end:compose]


# --8<-- [start:client]
import http.client


def call(
    server: TaskServer, method: str, path: str, document: object = None
) -> tuple[int, object]:
    """One request with http.client: (status, decoded JSON body or None)."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    try:
        body = None if document is None else json.dumps(document)
        conn.request(method, path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


# --8<-- [end:client]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_service]
    service = TaskService(InMemoryTaskRepository(), max_open=2)
    first = service.create("  write   the  page ")
    service.create("review the tests")
    print(first)
    #> Task(id=1, title='write the page', done=False)
    try:
        service.create("a third open task")
    except RuleBroken as error:
        print("RuleBroken:", error)
        #> RuleBroken: at most 2 open tasks: finish one
    print(service.update(first.id, title=None, done=True))
    #> Task(id=1, title='write the page', done=True)
    print(service.create("a third open task").id)
    #> 3
    # --8<-- [end:demo_service]

    # --8<-- [start:demo_same_service]
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        for repository in (InMemoryTaskRepository(), SqliteTaskRepository(connection)):
            service = TaskService(repository, max_open=1)
            task = service.create("one")
            service.update(task.id, title=None, done=True)
            print(type(repository).__name__, service.list_all())
            #> InMemoryTaskRepository [Task(id=1, title='one', done=True)]
            #> SqliteTaskRepository [Task(id=1, title='one', done=True)]
    # --8<-- [end:demo_same_service]

    # --8<-- [start:demo_http]
    with compose_app(":memory:", max_open=2) as server:
        print(call(server, "POST", "/tasks", {"title": "buy milk"}))
        #> (201, {'id': 1, 'title': 'buy milk', 'done': False, 'href': '/tasks/1'})
        print(call(server, "PATCH", "/tasks/1", {"done": True}))
        #> (200, {'id': 1, 'title': 'buy milk', 'done': True, 'href': '/tasks/1'})
        status, document = call(server, "PATCH", "/tasks/1", {"title": "buy oats"})
        print(status, document["detail"])
        #> 409 a done task cannot be renamed or reopened
        status, document = call(server, "POST", "/tasks", {"title": " "})
        print(status, document["detail"])
        #> 422 a title is 1 to 100 characters
        print(call(server, "DELETE", "/tasks/1"), call(server, "GET", "/tasks/1")[0])
        #> (204, None) 404
    # --8<-- [end:demo_http]
