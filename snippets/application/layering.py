"""Handlers, services, repositories: business rules kept apart from HTTP and
storage.

What it teaches: a request crosses three layers, each with one job. The handler
speaks HTTP (method, path, JSON, status codes) and nothing else. The service
holds the rules of a small to-do domain: a title is 1 to 100 characters, at most
`max_open` tasks may be open at once (a work-in-progress limit), and a done task
is final (it cannot be renamed or reopened). The repository stores and loads
tasks behind a `typing.Protocol`, with two implementations: a dict in memory and
SQLite. `compose_app` is the composition root, the one function that knows the
concrete classes and wires them together by hand (dependency injection without a
framework), then serves the result.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): the handler here is one of its handlers, served with its `serving`, so
this module builds on `snippets.application.app_core`. Then the validation page
(parsing at the boundary) and the routing page.

What it leaves out: authentication, pagination (see the API design page), a unit
of work spanning several repositories, migrations, and more than one process
(the service lock that guards the work-in-progress limit only works inside one
process; across processes the database has to enforce it).

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
    """A business rule said no; the handler decides which status code that
    is."""


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
import sqlite3

SCHEMA = """CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
)"""


class SqliteTaskRepository:
    """Tasks in an SQLite table. The connection is the caller's to open and
    close."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        # a transaction: committed on success, rolled back on error
        with self._db:
            self._db.execute(SCHEMA)

    def add(self, title: str) -> Task:
        """Store a new open task and return it with its id."""
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO tasks (title) VALUES (?)", (title,)
            )
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
            cursor = self._db.execute(
                "DELETE FROM tasks WHERE id = ?", (task_id,)
            )
        return cursor.rowcount == 1

    def count_open(self) -> int:
        """How many tasks are not done."""
        return self._db.execute(
            "SELECT count(*) FROM tasks WHERE done = 0"
        ).fetchone()[0]


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
        # interleave with another request, or two requests could take the last
        # slot.
        self._lock = threading.Lock()

    def create(self, title: str) -> Task:
        """Add an open task, if the work-in-progress limit allows one more."""
        title = self._clean(title)
        with self._lock:
            if self._tasks.count_open() >= self._max_open:
                raise RuleBroken(
                    f"at most {self._max_open} open tasks: finish one"
                )
            return self._tasks.add(title)

    def get(self, task_id: int) -> Task:
        """The task, or NotFound."""
        with self._lock:
            return self._get(task_id)

    def list_all(self) -> list[Task]:
        """Every task, oldest first."""
        with self._lock:
            return self._tasks.list_all()

    def update(
        self, task_id: int, title: str | None, done: bool | None
    ) -> Task:
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
        # one space between words, none at the ends
        title = " ".join(title.split())
        if not 1 <= len(title) <= 100:
            raise InvalidInput("a title is 1 to 100 characters")
        return title


# --8<-- [end:service]


# --8<-- [start:handler]
import json
import re

from snippets.application.app_core import (
    Handler,
    Request,
    Response,
    json_response,
    problem,
)

ERROR_STATUS = {NotFound: 404, RuleBroken: 409, InvalidInput: 422}
TASK_PATH = re.compile(r"/tasks/([1-9][0-9]{0,9})")


def task_json(task: Task) -> dict[str, object]:
    """The representation of a task, with the link to itself."""
    return {
        "id": task.id,
        "title": task.title,
        "done": task.done,
        "href": href(task),
    }


def href(task: Task) -> str:
    """The URL path of a task."""
    return f"/tasks/{task.id}"


def field(
    document: object, name: str, kind: type, required: bool = False
) -> object:
    """One member of the body, of the right JSON type, or InvalidInput."""
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    value = document.get(name)
    if value is None and not required:
        return None
    if type(value) is not kind:
        raise InvalidInput(f"{name} must be a {kind.__name__}")
    return value


# --8<-- [end:handler]


# --8<-- [start:routes]
def route(
    service: TaskService, method: str, path: str, document: object
) -> Response:
    """Dispatch on method and path; every branch is one service call."""
    if path == "/tasks":
        if method == "GET":
            return json_response([task_json(t) for t in service.list_all()])
        if method == "POST":
            task = service.create(field(document, "title", str, required=True))
            return json_response(
                task_json(task), 201, [("Location", href(task))]
            )
        return problem(
            405, f"{method} is not allowed here", [("Allow", "GET, POST")]
        )
    match = TASK_PATH.fullmatch(path)
    if match is None:
        return problem(404, f"no resource at {path}")
    task_id = int(match[1])
    if method == "GET":
        return json_response(task_json(service.get(task_id)))
    if method == "PATCH":
        title, done = (
            field(document, "title", str),
            field(document, "done", bool),
        )
        return json_response(task_json(service.update(task_id, title, done)))
    if method == "DELETE":
        service.delete(task_id)
        return Response(204)
    allow = [("Allow", "GET, PATCH, DELETE")]
    return problem(405, f"{method} is not allowed here", allow)


def task_app(service: TaskService) -> Handler:
    """The handler for one service: HTTP in, one service call, HTTP out."""

    def handle(request: Request) -> Response:
        try:
            document = json.loads(request.body) if request.body else {}
        # RecursionError: [[[[... thousands deep
        except (ValueError, RecursionError):
            return problem(400, "the body is not JSON")
        # same fields
        method = "GET" if request.method == "HEAD" else request.method
        try:
            return route(service, method, request.path, document)
        except DomainError as error:
            return problem(ERROR_STATUS[type(error)], str(error))

    return handle


# --8<-- [end:routes]


# --8<-- [start:compose]
import contextlib
from collections.abc import Iterator

from snippets.application.app_core import serving
from snippets.communication.http_messages.message_server import MessageServer


@contextlib.contextmanager
def compose_app(
    database: str | None = None, max_open: int = 3
) -> Iterator[MessageServer]:
    """The composition root: pick the concrete classes, wire them, serve, clean
    up."""
    # undoes the steps last-in, first-out
    with contextlib.ExitStack() as cleanup:
        repository: TaskRepository
        if database is None:
            repository = InMemoryTaskRepository()
        # one connection shared by the server's threads, under the service lock
        else:
            connection = sqlite3.connect(database, check_same_thread=False)
            cleanup.enter_context(contextlib.closing(connection))
            repository = SqliteTaskRepository(connection)
        app = task_app(TaskService(repository, max_open))
        yield cleanup.enter_context(serving(app))


# --8<-- [end:compose]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
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
    import contextlib

    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        for repository in (
            InMemoryTaskRepository(),
            SqliteTaskRepository(connection),
        ):
            service = TaskService(repository, max_open=1)
            task = service.create("one")
            service.update(task.id, title=None, done=True)
            print(type(repository).__name__, service.list_all())
            #> InMemoryTaskRepository [Task(id=1, title='one', done=True)]
            #> SqliteTaskRepository [Task(id=1, title='one', done=True)]
    # --8<-- [end:demo_same_service]

    # --8<-- [start:demo_http]
    from snippets.application.app_core import call

    with compose_app(":memory:", max_open=2) as server:
        reply = call(server, "POST", "/tasks", b'{"title": "buy milk"}')
        print(reply.status, reply.header("Location"), reply.json()["title"])
        #> 201 /tasks/1 buy milk
        reply = call(server, "PATCH", "/tasks/1", b'{"done": true}')
        print(reply.status, reply.json())
        #> 200 {'id': 1, 'title': 'buy milk', 'done': True, 'href': '/tasks/1'}
        reply = call(server, "PATCH", "/tasks/1", b'{"title": "buy oats"}')
        print(
            reply.status, reply.header("Content-Type"), reply.json()["detail"]
        )
        #> 409 application/problem+json a done task cannot be renamed or reopened
        reply = call(server, "POST", "/tasks", b'{"title": " "}')
        print(reply.status, reply.json()["detail"])
        #> 422 a title is 1 to 100 characters
        deleted = call(server, "DELETE", "/tasks/1")
        print(
            deleted.status, deleted.body, call(server, "GET", "/tasks/1").status
        )
        #> 204 b'' 404
    # --8<-- [end:demo_http]
