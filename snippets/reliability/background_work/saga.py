"""Sagas: a sequence of steps in different services, each with a compensation
that undoes it, run in reverse when a later step fails.

What it teaches: one transaction cannot span a flight booking, a hotel booking
and a card payment in three services. A saga runs them one after another, as
local transactions, and gives each a compensating action (cancel the flight,
cancel the hotel). When step k fails, the compensations of steps k-1 down to 1
run, newest first, and the system is back where it started, not atomically
(others may see the bookings for a moment) but in the end. A compensation can
fail too; it is retried, so it must be safe to repeat, and one that keeps
failing is reported for a person to finish.

Read first: `outbox` in this package: in a real system each step is a message
to a service, sent through an outbox.

What it leaves out: storing the saga's progress so that a restarted
orchestrator carries on (the state here lives in memory), choreography (each
service reacting to the others' events instead of one orchestrator), and
steps that run in parallel.

Run it: `python -m snippets.reliability.background_work.saga`.
"""

from __future__ import annotations

# --8<-- [start:saga]
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    action: Callable[[], None]  # a local transaction in one service
    compensation: Callable[[], None]  # undoes it; safe to run more than once


class SagaFailed(Exception):
    """A step failed; the steps before it were compensated, newest first."""

    def __init__(self, step: str, compensated: list[str]) -> None:
        super().__init__(f"{step} failed; compensated {', '.join(compensated)}")
        self.step, self.compensated = step, compensated


class CompensationFailed(Exception):
    """A compensation kept failing: a person must finish the undoing."""


def run_saga(steps: list[Step], attempts: int = 3) -> None:
    """Run the steps in order; on a failure, undo the ones that ran."""
    done: list[Step] = []
    for step in steps:
        try:
            step.action()
        except Exception as error:
            raise SagaFailed(step.name, compensate(done, attempts)) from error
        done.append(step)


def compensate(done: list[Step], attempts: int) -> list[str]:
    """Undo `done`, newest first, retrying each compensation."""
    for step in reversed(done):
        for attempt in range(1, attempts + 1):
            try:
                step.compensation()
                break
            except Exception as error:
                if attempt == attempts:
                    raise CompensationFailed(step.name) from error
    return [step.name for step in reversed(done)]


# --8<-- [end:saga]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    booked: list[str] = []  # what the three services hold for this trip


    def book(thing: str) -> Callable[[], None]:
        return lambda: booked.append(thing)


    def cancel(thing: str) -> Callable[[], None]:
        return lambda: booked.remove(thing) if thing in booked else None


    def declined() -> None:
        raise RuntimeError("card declined")


    trip = [
        Step("flight", book("flight"), cancel("flight")),
        Step("hotel", book("hotel"), cancel("hotel")),
        Step("payment", declined, lambda: None),
    ]
    try:
        run_saga(trip)
    except SagaFailed as failure:
        print(failure, "| cause:", failure.__cause__)
        #> payment failed; compensated hotel, flight | cause: card declined
    print(booked)
    #> []
    # --8<-- [end:demo]
