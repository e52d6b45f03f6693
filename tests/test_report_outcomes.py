"""The outcomes-per-key plot: one winner among 200 is visible, many keys do not overprint their labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.test_report import write_sample_run


def test_slice_heights_keep_the_total() -> None:
    from harness.report.outcomes import slice_heights

    counts = {"ok": 1, "conditional_failed": 199, "indeterminate": 0, "error": 2}
    heights = slice_heights(counts, least=4.0)
    assert heights["ok"] == 4.0 and heights["error"] == 4.0 and heights["indeterminate"] == 0.0
    assert sum(heights.values()) == pytest.approx(202)
    assert slice_heights({"ok": 1, "conditional_failed": 2, "indeterminate": 0, "error": 0}, 4.0)["ok"] == 1.0


def _green_rows(path: Path) -> int:
    """Pixel rows holding at least 60 px of the ok colour: the ok slices of the bars, not the legend swatch."""
    from matplotlib.image import imread

    from harness.report import style

    rgb = (imread(str(path))[..., :3] * 255).round().astype(int)
    target = np.array([int(style.OUTCOME_COLORS["ok"][i : i + 2], 16) for i in (1, 3, 5)])
    green = np.abs(rgb - target).sum(axis=-1) < 40
    return int((green.sum(axis=1) >= 60).sum())


def test_one_winner_among_200_is_visible(tmp_path: Path) -> None:
    from harness.history.events import pair_ops, read_events
    from harness.report.outcomes import plot_outcomes_per_key

    run_dir = write_sample_run(tmp_path / "run", workers=200, keys=2)
    ops = [op for op in pair_ops(read_events(run_dir / "history.jsonl")) if op.workload == "registration"]
    assert sum(op.outcome == "ok" for op in ops if op.key == "user-0000") == 1
    out = plot_outcomes_per_key(ops, "registration", set(), tmp_path / "outcomes.png")
    assert _green_rows(out) >= 5  # to scale, 1 of 200 on a ~440 px axis would be about 2 px


def test_many_keys_are_thinned_but_violations_labelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.axes

    from harness.history.events import pair_ops, read_events
    from harness.report import outcomes

    run_dir = write_sample_run(tmp_path / "run", workers=4, keys=60)
    ops = [op for op in pair_ops(read_events(run_dir / "history.jsonl")) if op.workload == "registration"]
    labels: list[list[str]] = []
    set_xticks = matplotlib.axes.Axes.set_xticks

    def spy(self, ticks, tick_labels=None, **kwargs):
        labels.append(list(tick_labels or []))
        return set_xticks(self, ticks, tick_labels, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_xticks", spy)
    outcomes.plot_outcomes_per_key(ops, "registration", {"user-0003"}, tmp_path / "many.png")
    shown = [label for label in labels[0] if label]
    assert len(labels[0]) == 60
    assert "user-0003" in shown and len(shown) <= outcomes.MAX_LABELLED_KEYS + 1
    assert "user-0002" not in shown and "user-0004" not in shown  # they would overprint the violating key


def test_no_winners_axis_for_batch_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.history.events import pair_ops, read_events
    from harness.report import outcomes

    run_dir = write_sample_run(tmp_path / "run", workers=4, keys=2)
    ops = pair_ops(read_events(run_dir / "history.jsonl"))
    calls: list[object] = []
    monkeypatch.setattr(outcomes, "_winners_axis", lambda *args: calls.append(args))
    outcomes.plot_outcomes_per_key(ops, "batch-load", set(), tmp_path / "a.png", races=False)
    assert calls == []
    outcomes.plot_outcomes_per_key(ops, "registration", set(), tmp_path / "b.png")
    assert len(calls) == 1
