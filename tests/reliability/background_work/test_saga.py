"""What the background work page claims of sagas, asserted with a hypothesis
state machine: whatever steps are added, whichever fails, and however often a
compensation fails before it succeeds, a failed saga undoes exactly the steps
that ran, newest first, and a successful one keeps them all."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from snippets.reliability.background_work.saga import (
    CompensationFailed,
    SagaFailed,
    Step,
    run_saga,
)

ATTEMPTS = 3


class Sagas(RuleBasedStateMachine):
    """Steps are added one by one; running the saga starts a fresh ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: list[tuple[bool, int]] = []  # (action fails, flaky undos)
        self.ledger: list[int] = []  # the effects of the steps that ran
        self.log: list[str] = []  # actions and compensations, in order

    def step(self, index: int, fails: bool, flaky: int) -> Step:
        left = [flaky]  # how many times the compensation fails first

        def action() -> None:
            self.log.append(f"do {index}")
            if fails:
                raise RuntimeError(f"step {index} failed")
            self.ledger.append(index)

        def compensation() -> None:
            self.log.append(f"undo {index}")
            if left[0] > 0:
                left[0] -= 1
                raise ConnectionError("the service did not answer")
            if index in self.ledger:  # idempotent: a second undo does nothing
                self.ledger.remove(index)

        return Step(f"step {index}", action, compensation)

    @rule(fails=st.booleans(), flaky=st.integers(0, ATTEMPTS - 1))
    def add_step(self, fails: bool, flaky: int) -> None:
        if len(self.plan) < 8:
            self.plan.append((fails, flaky))

    @rule()
    def run(self) -> None:
        self.ledger, self.log = [], []
        steps = [self.step(i, *spec) for i, spec in enumerate(self.plan, 1)]
        failing = next((i for i, (f, _) in enumerate(self.plan, 1) if f), None)
        if failing is None:
            run_saga(steps, ATTEMPTS)
            assert self.ledger == list(range(1, len(steps) + 1))
            return
        with pytest.raises(SagaFailed) as raised:
            run_saga(steps, ATTEMPTS)
        ran = list(range(1, failing))
        assert raised.value.step == f"step {failing}"
        assert raised.value.compensated == [f"step {i}" for i in reversed(ran)]
        assert self.ledger == []  # back where it started
        undone = [entry for entry in self.log if entry.startswith("undo")]
        assert list(dict.fromkeys(undone)) == [f"undo {i}" for i in reversed(ran)]
        assert f"do {failing + 1}" not in self.log  # nothing ran after it


TestSagas = Sagas.TestCase


def test_a_compensation_that_keeps_failing_is_reported() -> None:
    calls = []

    def broken() -> None:
        calls.append("undo")
        raise ConnectionError("down")

    def fail() -> None:
        raise RuntimeError("no")

    steps = [Step("a", lambda: None, broken), Step("b", fail, lambda: None)]
    with pytest.raises(CompensationFailed, match="a"):
        run_saga(steps, attempts=ATTEMPTS)
    assert calls == ["undo"] * ATTEMPTS
