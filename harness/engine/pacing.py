"""How ``--rate`` releases requests: the slice arithmetic shared by the runner and the summary's notes."""

from __future__ import annotations


def rate_slice(rate: float) -> tuple[int, float]:
    """(requests per slice, slice length in s): ``rate`` ops/s released in ~10 ms slices rather than a
    burst at the start of each second; below 100 ops/s one request per 1/rate s."""
    per_slice = max(1, round(rate / 100))
    return per_slice, per_slice / rate
