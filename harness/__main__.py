"""`python -m harness` and the `stress` console script."""

import sys


def run() -> None:
    """Import the CLI and run it; Ctrl-C during the (slow) imports exits quietly, nothing was started."""
    try:
        from harness.cli.app import main
    except KeyboardInterrupt:
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
