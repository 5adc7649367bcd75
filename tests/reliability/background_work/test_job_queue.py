"""What the background work page claims of the job queue, asserted; SQS as moto
emulates it is the oracle for delivery: the same script of sends, receives,
deletes and clock steps gives the same trace on both, dead letters included.

moto reads the time through `unix_time` and `unix_time_millis` in its SQS
module; the tests replace both with a clock they move, so nothing sleeps.
"""

from __future__ import annotations

import sqlite3
import threading

import boto3
import moto.sqs.models
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from snippets.reliability.background_work.job_queue import (
    Job,
    JobQueue,
    ReceiptExpired,
    complete,
    work_one,
)

MAX_RECEIVES = 3


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0  # seconds; integers, exact in binary

    def __call__(self) -> float:
        return self.now


class Sqs:
    """One moto SQS queue with a dead-letter queue, under the test's clock."""

    def __init__(self, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(moto.sqs.models, "unix_time", lambda dt=None: clock())
        monkeypatch.setattr(
            moto.sqs.models, "unix_time_millis", lambda dt=None: clock() * 1000
        )
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        self.client = boto3.client("sqs", region_name="us-east-1")
        self.dlq = self.client.create_queue(QueueName="dead")["QueueUrl"]
        arn = self.client.get_queue_attributes(
            QueueUrl=self.dlq, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        policy = (
            f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": "{MAX_RECEIVES}"}}'
        )
        self.url = self.client.create_queue(
            QueueName="jobs", Attributes={"RedrivePolicy": policy}
        )["QueueUrl"]

    def send(self, body: str) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=body)

    def receive(self, timeout: int) -> tuple[str, str, int] | None:
        messages = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=1,
            VisibilityTimeout=timeout,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not messages:
            return None
        [m] = messages
        count = int(m["Attributes"]["ApproximateReceiveCount"])
        return m["Body"], m["ReceiptHandle"], count

    def delete(self, receipt: str) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def dead_letters(self) -> list[str]:
        bodies = []  # at most 10 a receive: receive until none is left
        while messages := self.client.receive_message(
            QueueUrl=self.dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            bodies += [m["Body"] for m in messages]  # hidden for 30 s now
        return bodies


# A script step: ("send",), ("receive", visibility timeout), ("delete", which of
# the bodies received so far), ("advance", seconds).
STEPS = st.one_of(
    st.just(("send",)),
    st.tuples(st.just("receive"), st.sampled_from([5, 10, 30])),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.sampled_from([1, 5, 10, 11, 31])),
)


def run(script, queue_send, queue_receive, queue_delete, clock) -> list:
    """Run `script`; the trace of what each receive returned."""
    trace, latest, sent = [], {}, 0  # latest: body -> its latest receipt
    for step in script:
        if step[0] == "send":
            sent += 1
            queue_send(f"job {sent}")
        elif step[0] == "receive":
            got = queue_receive(step[1])
            trace.append(None if got is None else (got[0], got[2]))
            if got is not None:
                latest[got[0]] = got[1]
        elif step[0] == "delete" and latest:
            body = sorted(latest)[step[1] % len(latest)]
            queue_delete(latest.pop(body))  # only the latest receipt: see below
            trace.append(("deleted", body))
        elif step[0] == "advance":
            clock.now += step[1]
    return trace


def drain(receive, clock: Clock) -> list:
    """Receive without deleting until every job has gone to the dead letters;
    what each receive returned."""
    trace = []
    for _ in range(200):  # 25 jobs at most, 3 receives each
        clock.now += 100  # past every visibility timeout
        if (got := receive()) is None:
            return trace
        trace.append((got[0], got[2]))
    raise AssertionError("the queue never emptied")


SEND, ADVANCE_10 = ("send",), ("advance", 10)


@settings(max_examples=60, deadline=None)
@given(st.lists(STEPS, max_size=25))
@example([SEND, ("receive", 10), ADVANCE_10, ("receive", 10)])  # at the edge
@example([SEND, *[("receive", 5), ADVANCE_10] * 4])  # into the dead letters
@example([SEND] * 12)  # more dead letters than one receive returns
def test_delivery_matches_sqs_as_moto_emulates_it(tmp_path_factory, script) -> None:
    path = str(tmp_path_factory.mktemp("queue") / "jobs.db")
    ours_clock, sqs_clock = Clock(), Clock()
    ours = JobQueue(path, max_receives=MAX_RECEIVES, clock=ours_clock)
    try:

        def receive(timeout: int):
            job = ours.receive(timeout)
            return None if job is None else (job.body, job.receipt, job.receives)

        expected_trace = run(script, ours.send, receive, ours.delete, ours_clock)

        def receive_1():
            return receive(1)

        expected_trace += drain(receive_1, ours_clock)
        ours_dead = ours.dead_letters()
    finally:
        ours.close()
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        sqs = Sqs(sqs_clock, monkeypatch)
        trace = run(script, sqs.send, sqs.receive, sqs.delete, sqs_clock)
        trace += drain(lambda: sqs.receive(1), sqs_clock)
        dead = sqs.dead_letters()
    assert expected_trace == trace
    assert sorted(ours_dead) == sorted(dead)


def test_a_stale_receipt_deletes_nothing(tmp_path) -> None:
    # Where we are stricter than moto: after a job was handed out again, the
    # first worker's receipt no longer deletes it (moto deletes it; SQS says
    # the delete may succeed without deleting).
    clock = Clock()
    queue = JobQueue(str(tmp_path / "q.db"), clock=clock)
    try:
        queue.send("a")
        first = queue.receive(10)
        clock.now += 11
        second = queue.receive(10)
        assert not queue.delete(first.receipt)
        assert queue.delete(second.receipt)
        assert queue.receive(10) is None
    finally:
        queue.close()


def record(conn: sqlite3.Connection, job: Job) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS done (body TEXT)")
    conn.execute("INSERT INTO done VALUES (?)", (job.body,))


def test_work_one_applies_and_deletes_together(tmp_path) -> None:
    clock = Clock()
    queue = JobQueue(str(tmp_path / "q.db"), clock=clock)
    try:
        queue.send("a")

        def fails(conn, job):
            record(conn, job)
            raise RuntimeError("the handler failed halfway")

        with pytest.raises(RuntimeError):
            work_one(queue, fails, visibility_timeout=10)
        clock.now += 11  # the job comes back; its half-done effect did not stay
        assert work_one(queue, record, visibility_timeout=10).receives == 2
        done = queue.conn.execute("SELECT body FROM done").fetchall()
        assert done == [("a",)]
        assert queue.receive(10) is None
    finally:
        queue.close()


def test_a_worker_whose_job_was_handed_on_cannot_commit(tmp_path) -> None:
    clock = Clock()
    path = str(tmp_path / "q.db")
    slow, other = JobQueue(path, clock=clock), JobQueue(path, clock=clock)
    try:
        slow.send("a")
        job = slow.receive(10)
        clock.now += 11  # the slow worker took longer than its timeout...
        assert other.receive(10).body == "a"  # ...and the job was handed on
        with pytest.raises(ReceiptExpired, match="another worker"):
            complete(slow, job, record)
        tables = slow.conn.execute(
            "SELECT name FROM sqlite_master WHERE name = 'done'"
        ).fetchall()
        assert tables == []  # its effect was rolled back with it
    finally:
        slow.close()
        other.close()


def test_two_workers_never_receive_the_same_job(tmp_path) -> None:
    path = str(tmp_path / "q.db")
    setup = JobQueue(path)
    for n in range(200):
        setup.send(f"job {n}")
    setup.close()
    got: list[list[str]] = [[], []]

    def worker(mine: list[str]) -> None:
        queue = JobQueue(path)
        try:
            while (job := queue.receive(60)) is not None:
                mine.append(job.body)
        finally:
            queue.close()

    threads = [threading.Thread(target=worker, args=(got[i],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(got[0] + got[1]) == sorted(f"job {n}" for n in range(200))
    assert not set(got[0]) & set(got[1])
