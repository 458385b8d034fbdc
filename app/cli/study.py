"""``normlab study``: the normalizer study (see models/study/run.py); the CLI only forwards its arguments."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study",
        help="run the normalizer study grid (CSV + plots), resumably",
        add_help=False,
        description="Run the normalizer study; see --help.",
    )
    p.set_defaults(handler=_run, forwards_arguments=True)  # the study's own parser reads the rest


def _run(args: argparse.Namespace) -> int:
    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.study.run import main

    try:
        return main(args.rest)
    except SystemExit as exc:  # --help and argument errors of the study's own parser
        return exc.code if isinstance(exc.code, int) else 2
