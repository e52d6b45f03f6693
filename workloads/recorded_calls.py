"""The workload entry of a run directory that ``harness.testing`` recorded from a user's own functions.

`stress check` and `stress report` find a run's checker through run.json's ``config.workloads``; a history
of ``race``/``hammer`` calls names this class there. Its checker runs the pattern checks the test asserted
(``config["checks"]``, see ``harness.checker.patterns``), so re-checking the run directory reaches the
verdict the assertion did. It races nothing: ``stress run`` refuses it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.checker.patterns import check_all
from harness.checker.verdict import Verdict
from harness.errors import UsageError
from harness.history.events import Op
from workloads.base import Call, Step, Workload

SPEC = "workloads.recorded_calls:RecordedCalls"
NAME = "calls"


class RecordedCalls(Workload):
    """Calls of a user's functions, recorded by ``harness.testing.race``/``hammer``."""

    name: ClassVar[str] = NAME
    description: ClassVar[str] = "calls of your own code recorded by harness.testing (not runnable by stress run)"
    races_one_item: ClassVar[bool] = True

    def request(self, worker: int, step: Step) -> Call | None:
        raise UsageError(f"{SPEC} is the history of your own code's calls (harness.testing.race/hammer): "
                         "stress run cannot race it")

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        specs = config.get("checks") or []
        if not specs:
            verdict = Verdict()
            verdict.undecided("no assertion was made on these calls, so nothing was checked")
            return verdict
        try:
            return check_all(ops, specs)
        except (TypeError, ValueError) as exc:  # a hand-edited or newer run.json
            raise UsageError(f"run.json: unreadable check {exc}") from None
