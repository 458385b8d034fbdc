"""The one format for user errors on every command line (``normlab``, ``train.py``, eval and bench scripts).

No torch here: the command line reports argument and file errors before anything heavy is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

__all__ = ["ArgumentParser", "user_error", "USER_ERROR"]

USER_ERROR = 2  # exit code of a user error (argparse uses the same)


def user_error(msg: str) -> int:
    """Print one ``error: ...`` line to stderr and return the user-error exit code (2)."""
    print(f"error: {msg}", file=sys.stderr)
    return USER_ERROR


class HelpFormatter(argparse.HelpFormatter):
    """Shows each default once: appended as ``(default: X)`` unless the help already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with normlab's error format: one ``error: ...`` line naming the argument, exit code 2.

    argparse's own format (usage block, then ``prog: error: ...``) buries the message; the usage is one
    ``--help`` away.
    """

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(USER_ERROR, f"error: {message} (see {self.prog} --help)\n")


def dispatch(prog: str, targets: dict[str, str], argv: list[str] | None = None) -> int:
    """``prog {name} [options]``: run ``main(options)`` of the module ``targets[name]`` (imported only then).

    The one dispatcher behind ``train.py``, ``python -m models.eval`` and ``python -m models.bench``. argparse's
    exits (``--help``, argument errors) become return codes, so callers and tests get a number back.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: {prog} {{{','.join(targets)}}} [options]"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else USER_ERROR
    if argv[0] not in targets:
        return user_error(f"unknown model {argv[0]!r}; choose one of: {', '.join(targets)}")
    try:
        return int(importlib.import_module(targets[argv[0]]).main(argv[1:]) or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else USER_ERROR
