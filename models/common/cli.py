"""The one format for user errors on every command line (``normlab``, ``train.py``, eval and bench scripts).

No torch here: the command line reports argument and file errors before anything heavy is imported.
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["ArgumentParser", "user_error", "USER_ERROR"]

USER_ERROR = 2  # exit code of a user error (argparse uses the same)


def user_error(msg: str) -> int:
    """Print one ``error: ...`` line to stderr and return the user-error exit code (2)."""
    print(f"error: {msg}", file=sys.stderr)
    return USER_ERROR


class ArgumentParser(argparse.ArgumentParser):
    """argparse with normlab's error format: one ``error: ...`` line naming the argument, exit code 2.

    argparse's own format (usage block, then ``prog: error: ...``) buries the message; the usage is one
    ``--help`` away.
    """

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(USER_ERROR, f"error: {message} (see {self.prog} --help)\n")
