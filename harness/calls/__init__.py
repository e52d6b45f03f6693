"""Recording and driving calls of a user's own functions (what ``harness.testing`` is built on)."""
