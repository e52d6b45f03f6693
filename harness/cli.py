"""Placeholder CLI entry (replaced below)."""


def main() -> None:
    """Entry point of the `stress` console script."""
