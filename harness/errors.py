"""Errors the CLI turns into one line on stderr and exit code 2."""


class UsageError(Exception):
    """Bad input or an environment problem: reported as one line, exit code 2."""
