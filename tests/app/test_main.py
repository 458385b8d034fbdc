"""`python -m app`: argument handling, and a real start of the server process (offline, loopback only)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import app.__main__ as app_main
from app.__main__ import build_parser, config_from_args, main

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_local_and_private():
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, False)


def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path):
    assert main(["--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "error: --port must be in 1..65535, got 70000"
    assert main(["--assets", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--max-size", "32"]) == 2
    assert capsys.readouterr().err.startswith("error: default_size must lie in")


@pytest.mark.parametrize(
    "value, why",
    [
        ("101", "at most 100"),
        ("0", "more than 0"),
        ("nan", "at most 100"),
        ("lots", "must be a number of megapixels, got 'lots'"),
    ],
)
def test_max_input_megapixels_above_the_tiled_limit_is_refused(capsys, value, why):
    with pytest.raises(SystemExit) as info:
        main(["--max-input-megapixels", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --max-input-megapixels:" in err and why in err


def test_max_input_megapixels_sets_the_pixel_and_upload_limits():
    config = config_from_args(build_parser().parse_args(["--max-input-megapixels", "100"]))
    assert config.max_input_pixels == 100_000_000 and config.max_upload_mb == 125
    config = config_from_args(build_parser().parse_args(["--max-input-megapixels", "12.5"]))
    assert config.max_input_pixels == 12_500_000 and config.max_upload_mb == 50
    default = config_from_args(build_parser().parse_args([]))
    assert default.max_input_pixels == 40_000_000 and default.max_upload_mb == 50 and default.max_size == 8192


def test_the_flags_literal_limits_are_the_configs():
    from app import config

    assert app_main.DEFAULT_INPUT_MEGAPIXELS == config.DEFAULT_INPUT_MEGAPIXELS
    assert app_main.MAX_INPUT_MEGAPIXELS == config.MAX_INPUT_MEGAPIXELS
    assert config.INPUT_LIMIT_FLAG in build_parser().format_help()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_m_app_starts_and_serves_on_loopback(artifacts, tmp_path):
    port = _port()
    cache = tmp_path / "gradio"  # the server's cache folder; the stop sweeps the empty temp files uploads leave
    cache.mkdir()
    leaked = cache / "tmpabcd1234"
    leaked.write_bytes(b"")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", "GRADIO_TEMP_DIR": str(cache)}
    log = artifacts / "python_m_app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    t0 = time.perf_counter()
    try:
        page = None
        while time.perf_counter() - t0 < 120 and proc.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.25)
        elapsed = time.perf_counter() - t0
        assert page is not None, f"server did not come up (exit code {proc.poll()}); see {log}"
        print(
            f"python -m app answered after {elapsed:.1f} s (target <= 15 s on an idle machine; see tools/app_bench.py)"
        )
        assert "normlab" in page
        assert f"http://127.0.0.1:{port}" in log.read_text()  # bound to loopback, not 0.0.0.0
        # SIGTERM stops it cleanly and quickly (exit code 0, the stop is logged)
        t1 = time.perf_counter()
        proc.terminate()
        assert proc.wait(timeout=15) == 0
        print(f"stopped {time.perf_counter() - t1:.1f} s after SIGTERM")
        assert "normlab app stopped" in log.read_text()
        assert not leaked.exists()  # swept on stop (app/__main__.py's final sweep)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_video_limit_flags_set_the_config():
    args = build_parser().parse_args(
        [
            "--max-video-seconds",
            "90",
            "--max-video-frames",
            "5400",
            "--max-video-side",
            "1920",
            "--max-video-mb",
            "500",
            "--max-video-size",
            "1280",
            "--webcam-seconds",
            "120",
        ]
    )
    config = config_from_args(args)
    assert (
        config.max_video_seconds,
        config.max_video_frames,
        config.max_video_side,
        config.max_video_mb,
        config.max_video_size,
        config.webcam_seconds,
    ) == (90, 5400, 1920, 500, 1280, 120)
    assert config.upload_limit_mb == 500
    assert config_from_args(build_parser().parse_args([])).max_video_seconds == 60


@pytest.mark.parametrize(
    "argv, why",
    [
        (["--max-video-seconds", "0"], "must be more than 0, got 0"),
        (["--max-video-frames", "2.5"], "must be a whole number, got '2.5'"),
        (["--max-video-mb", "lots"], "must be a number, got 'lots'"),
    ],
)
def test_bad_video_limit_flags_exit_2(capsys, argv, why):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and why in capsys.readouterr().err


def test_a_video_size_above_the_stylizers_limit_exits_2_with_one_line(capsys):
    assert main(["--max-video-size", "4000"]) == 2
    assert capsys.readouterr().err.strip() == "error: max_video_size must be between 16 and 1920 px, got 4000"


def test_auth_file_checks_and_the_warning_without_one(tmp_path, capsys):
    from app.__main__ import login

    assert login(build_parser().parse_args([])) is None and capsys.readouterr().err == ""  # loopback: quiet
    assert login(build_parser().parse_args(["--host", "0.0.0.0"])) is None
    assert "WITHOUT a login" in capsys.readouterr().err
    users = tmp_path / "users.txt"
    users.write_text("# team\nann:s3cret\n\nbob:sha256:" + "a" * 64 + "\n")
    check = login(build_parser().parse_args(["--host", "0.0.0.0", "--auth-file", str(users)]))
    assert check("ann", "s3cret") and not check("ann", "wrong") and not check("eve", "s3cret")
    assert "WITHOUT" not in capsys.readouterr().err
    users.write_text("ann:s3cret\nnot a line\n")
    assert main(["--auth-file", str(users)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "s3cret" not in err  # the reason, never a password
    assert main(["--auth-file", str(tmp_path / "missing.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_server_with_a_login_refuses_anonymous_api_calls_and_serves_with_credentials(tmp_path, artifacts):
    from gradio_client import Client

    users = tmp_path / "users.txt"
    users.write_text("ann:s3cret\n")
    port = _port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = artifacts / "python_m_app_auth.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port), "--auth-file", str(users)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 120 and proc.poll() is None:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except urllib.error.HTTPError:  # the login page answers: the server is up
                break
            except OSError:
                time.sleep(0.25)
        assert proc.poll() is None, f"server exited; see {log}"
        with pytest.raises(Exception, match="credentials were not provided"):
            Client(url, verbose=False).predict(api_name="/classes")
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("ann", "wrong"), verbose=False)
        classes = Client(url, auth=("ann", "s3cret"), verbose=False).predict(api_name="/classes")
        assert [c["name"] for c in classes][:2] == ["sky", "cloud"]
        assert "s3cret" not in log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_auth_hash_prints_a_line_the_auth_file_accepts(monkeypatch, capsys):
    from app import auth

    monkeypatch.setattr(auth.getpass, "getpass", lambda prompt: "pw")
    assert auth.main(["hash", "ann"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == "ann:sha256:" + auth.sha256_hex("pw")  # hashed, never the password itself
    assert auth.checker(auth.parse_auth_lines([line]))("ann", "pw")
    assert auth.main(["hash", "a:b"]) == 2


def test_with_exit_with_parent_the_server_process_stops_when_its_parent_dies(tmp_path):
    """What `make app` relies on: killing make (the parent) must not leave the server running."""
    import signal as sig

    marker = tmp_path / "child.pid"
    child_code = (
        "import os, signal, sys, time; from app.__main__ import exit_with_parent; "
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
        f"ok = exit_with_parent(); open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    parent_code = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child_code!r}], "
        f"cwd={str(ROOT)!r}); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT)
    try:
        t0 = time.perf_counter()
        while not marker.exists() or not marker.read_text():
            assert time.perf_counter() - t0 < 30, "child did not start"
            time.sleep(0.1)
        pid = int(marker.read_text())
        parent.send_signal(sig.SIGKILL)
        parent.wait()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 10:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, sig.SIGKILL)
            pytest.fail("the child outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
