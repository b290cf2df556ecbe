"""The one exception type the CLI turns into a one-line message and a non-zero exit, and that exit."""


import sys


class HarnessError(Exception):
    """A problem the user can fix: the message names the value and what to do."""


def fail(message: str) -> None:
    """The end of a command on bad input: one line on stderr, exit 2 (nothing is written after)."""
    print(f"harness: error: {message}", file=sys.stderr)
    sys.exit(2)


class HarnessWarning(UserWarning):
    """The class of every Python warning the harness itself raises (the CLI's ``harness: warning:``
    lines on stderr are another thing, and stay as they are). The tests make it an error
    (pyproject.toml, filterwarnings), so a warning the harness raises fails the test that raised it."""
