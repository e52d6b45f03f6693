"""The project's one percentile: HdrHistogram at 3 significant digits, for the terminal summary, the JSON,
the HTML report, compare/sweep and the client's own loop lag alike, so no two of them can show different
p99s for one run (they did, with three definitions: nearest rank, HdrHistogram and a floor index).

Values are milliseconds, recorded as whole microseconds from 1 µs to one hour; a percentile is
HdrHistogram's value at that percentile (the highest value equivalent to the recorded ones, so within
0.1 % above the exact order statistic).
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_SIG_DIGITS = 3


def histogram(values_ms: Iterable[float]) -> HdrHistogram | None:
    """An HdrHistogram of ``values_ms`` (None when there are none)."""
    hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIG_DIGITS)
    recorded = 0
    for ms in values_ms:
        hist.record_value(min(max(round(ms * 1000), _LOWEST_US), _HIGHEST_US))
        recorded += 1
    return hist if recorded else None


def percentiles(values_ms: Iterable[float], quantiles: Iterable[float] = (50.0, 90.0, 99.0)) -> dict[str, float]:
    """``{"p50": …, "p90": …, "p99": …, "max": …}`` in ms (``{}`` when there are no values)."""
    hist = histogram(values_ms)
    if hist is None:
        return {}
    result = {f"p{q:g}": hist.get_value_at_percentile(q) / 1000 for q in quantiles}
    result["max"] = hist.get_max_value() / 1000
    return result


def percentile(values_ms: Iterable[float], q: float) -> float | None:
    """One percentile in ms (None when there are no values)."""
    return percentiles(values_ms, (q,)).get(f"p{q:g}")
