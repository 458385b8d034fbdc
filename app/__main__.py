"""``python -m app [--host 127.0.0.1] [--port 7860] [--auth-file FILE] [--share]`` — start the normlab web app."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from app.config import AppConfig

# Literal copies of app.config's DEFAULT_INPUT_MEGAPIXELS / MAX_INPUT_MEGAPIXELS: `--help` imports nothing heavy
# (tests/app/test_main.py checks they agree).
DEFAULT_INPUT_MEGAPIXELS = 40
MAX_INPUT_MEGAPIXELS = 100


def _megapixels(text: str) -> float:
    """``--max-input-megapixels``: a number in (0, 100]; anything else is argparse's usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of megapixels, got {text!r}") from None
    if not 0 < value <= MAX_INPUT_MEGAPIXELS:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_INPUT_MEGAPIXELS} (the tiled stylizer's limit), got {text}"
        )
    return value


def _positive(kind: type) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` (int or float) above 0; anything else is a usage error (exit 2)."""

    def parse(text: str) -> float:
        what = "a whole number" if kind is int else "a number"
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not value > 0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description="Start the normlab web app (Gradio).")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it on the network)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--auth-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="require a login: one user:password (or user:sha256:<hex>, see `python -m app.auth hash`) "
        "per line; guards the page and the API (gradio_client's auth=). Strongly advised with "
        "a --host other than 127.0.0.1",
    )
    p.add_argument(
        "--share", action="store_true", help="also open a public *.gradio.live link (needs internet; off by default)"
    )
    p.add_argument(
        "--assets",
        type=Path,
        default=None,
        help="folder with {adain,spade}_<norm>.safetensors checkpoints and examples/ (default: the bundled assets/)",
    )
    p.add_argument("--max-size", type=int, default=None, help="largest output long side in px (default 8192)")
    p.add_argument(
        "--max-input-megapixels",
        type=_megapixels,
        default=None,
        metavar="N",
        help=f"refuse uploaded images (and outputs) larger than N megapixels (default "
        f"{DEFAULT_INPUT_MEGAPIXELS}, at most {MAX_INPUT_MEGAPIXELS}); above "
        f"{DEFAULT_INPUT_MEGAPIXELS} the upload limit grows with it (1.25 MB per megapixel)",
    )
    p.add_argument("--concurrency", type=int, default=None, help="model calls run at once (default 2)")
    p.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="requests allowed to wait; more are refused with 'busy, try again in about N s' (default 64)",
    )
    video = p.add_argument_group("video limits (the Video tab and the /stylize_video endpoint)")
    video.add_argument(
        "--max-video-seconds",
        type=_positive(float),
        default=None,
        metavar="S",
        help="refuse clips longer than S seconds (default 60)",
    )
    video.add_argument(
        "--max-video-frames",
        type=_positive(int),
        default=None,
        metavar="N",
        help="refuse clips with more than N frames (default 3600)",
    )
    video.add_argument(
        "--max-video-side",
        type=_positive(int),
        default=None,
        metavar="PX",
        help="refuse clips whose long side is over PX (default 3840: 4K is accepted, then downscaled)",
    )
    video.add_argument(
        "--max-video-mb",
        type=_positive(float),
        default=None,
        metavar="MB",
        help="refuse video files larger than MB megabytes (default 200)",
    )
    video.add_argument(
        "--webcam-seconds",
        type=_positive(int),
        default=None,
        metavar="S",
        help="one webcam stream runs at most S seconds (it holds a worker), then the user restarts it (default 300)",
    )
    video.add_argument(
        "--max-video-size",
        type=int,
        default=None,
        metavar="PX",
        help="largest output long side offered for videos, 16 to 1920 (default 854)",
    )
    p.add_argument(
        "--cache-minutes",
        type=float,
        default=None,
        help="delete uploads and results older than this from the server's cache folder (default 60; "
        "0 = the shortest safe sweep, files older than 10 s)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """The ``AppConfig`` for parsed arguments (options left out keep its defaults); ValueError if they clash."""
    from app.config import AppConfig

    max_pixels = round(args.max_input_megapixels * 1e6) if args.max_input_megapixels is not None else None
    overrides = {
        k: v
        for k, v in (
            ("assets_dir", args.assets),
            ("max_size", args.max_size),
            ("concurrency", args.concurrency),
            ("cache_minutes", args.cache_minutes),
            ("max_queue", args.max_queue),
            ("max_input_pixels", max_pixels),
            ("max_video_seconds", args.max_video_seconds),
            ("max_video_frames", args.max_video_frames),
            ("max_video_side", args.max_video_side),
            ("max_video_mb", args.max_video_mb),
            ("max_video_size", args.max_video_size),
            ("webcam_seconds", args.webcam_seconds),
        )
        if v is not None
    }
    return AppConfig(**overrides)


def exit_with_parent() -> bool:
    """Ask the kernel for SIGTERM when the parent process dies (Linux ``PR_SET_PDEATHSIG``): ``make app`` sets
    ``NORMLAB_EXIT_WITH_PARENT=1``, so stopping make also stops the server instead of leaving it running."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # PR_SET_PDEATHSIG = 1
            return False
    except (OSError, AttributeError):
        return False
    return os.getppid() != 1  # the parent may already be gone: then nobody would send the signal


def login(args: argparse.Namespace):
    """Gradio's ``auth`` callable from ``--auth-file`` (ValueError for a bad file), or None — with a warning on
    stderr when the server is reachable from other machines without one."""
    from app.auth import checker, is_loopback, load_auth_file

    if args.auth_file is not None:
        return checker(load_auth_file(args.auth_file))
    if not is_loopback(args.host) or args.share:
        print(
            f"warning: serving on {args.host}{' and a public share link' if args.share else ''} WITHOUT a login: "
            "anyone who can reach it can use it (and its CPU). Add --auth-file FILE (user:password lines).",
            file=sys.stderr,
        )
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.port <= 65535:
        print(f"error: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    # Before gradio is imported: no usage analytics / version check calls leave the machine.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from app import memory

    memory.tune_allocator()  # before any worker thread exists: flat memory over weeks (app/memory.py)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not Path(config.assets_dir).is_dir():
        print(f"error: assets folder {config.assets_dir} does not exist", file=sys.stderr)
        return 2
    try:
        auth = login(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # SIGTERM (docker stop, systemd, kill) stops the server the way Ctrl-C does: Gradio's loop closes the server
    # on KeyboardInterrupt; without this handler Python would die at once, mid-response. Installed before the
    # server starts, so a stop that comes early is handled too.
    signal.signal(signal.SIGTERM, _interrupt)
    if os.environ.get("NORMLAB_EXIT_WITH_PARENT") == "1" and not exit_with_parent():
        return 0  # started by make, and make is already gone
    from app.web.retention import start_sweeper, sweep_leaked_uploads, sweep_video_jobs, upload_folder, video_folder
    from app.web.ui import build_demo, launch_kwargs

    demo = build_demo(config)
    try:
        try:
            demo.launch(
                server_name=args.host,
                server_port=args.port,
                share=args.share,
                show_error=True,
                prevent_thread_lock=True,
                auth=auth,
                **launch_kwargs(config),
            )
        except OSError as exc:  # port in use, bad host
            print(f"error: could not start the server on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 2
        # The page is up; import torch and the model code now, in the background, so the first click does not
        # wait for it. Checkpoints themselves still load on first use.
        threading.Thread(target=_warm_imports, name="warm-imports", daemon=True).start()
        every, age = config.delete_cache  # Gradio's own sweep misses the empty files its uploads leave behind
        start_sweeper(upload_folder(), every, age)
        demo.block_thread()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, at any point after the handler is in place
        pass
    finally:
        demo.close()  # Gradio deletes the files it tracked; the empty temp files its uploads left are ours to sweep
        sweep_leaked_uploads(upload_folder(), older_than_s=0)
        sweep_video_jobs(video_folder(), older_than_s=0)  # what Gradio's own deletion leaves of the video jobs
    print("normlab app stopped", file=sys.stderr)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _warm_imports() -> None:
    try:
        pass
    except Exception:  # a broken install shows up, with a clear message, on the first request instead
        pass


if __name__ == "__main__":
    sys.exit(main())
