"""Building hand-made histories for checker tests."""

from __future__ import annotations

from typing import Any

from harness.history.events import Op, pair_ops


class HistoryBuilder:
    """Appends invoke/completion event pairs; ``ops()`` pairs them like a saved history would be."""

    def __init__(self, workload: str) -> None:
        self.workload = workload
        self.events: list[dict[str, Any]] = []

    def op(self, process: int, f: str, key: str, value: Any, start: int, end: int | None, type_: str,
           *, error: str | None = None, old: dict[str, Any] | None = None, result: Any = None,
           round_: int = 0, attempts: int = 1, raw: str | None = None) -> HistoryBuilder:
        """Add one op; ``end=None`` leaves it without a completion (the run died)."""
        self.events.append({"index": len(self.events), "type": "invoke", "process": process,
                            "workload": self.workload, "f": f, "key": key, "value": value,
                            "time": start, "round": round_})
        if end is not None:
            done = {"index": len(self.events), "type": type_, "process": process, "workload": self.workload,
                    "f": f, "key": key, "value": result, "time": end, "round": round_, "attempts": attempts}
            for name, field_value in (("error", error), ("old", old), ("raw", raw)):
                if field_value is not None:
                    done[name] = field_value
            self.events.append(done)
        return self

    def ops(self) -> list[Op]:
        """The paired ops."""
        return pair_ops(sorted(self.events, key=lambda e: (e["time"], e["index"])))


def payload(key: str, worker: int) -> dict[str, str]:
    """A registration payload like the workload's."""
    return {"Username": key, "Email": f"w{worker}@example.com", "RequestId": f"run/{key}/w{worker}"}
