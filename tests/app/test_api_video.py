"""/stylize_video end to end through gradio_client against the app served once per session (tests/app/conftest.py).
Every call has a timeout: a hung job fails the test instead of the suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from models.common.video import VideoReader, probe
from tests.app.conftest import CLIP_FRAMES, CLIP_SIZE

TIMEOUT_S = 300


def _video_path(result) -> Path:
    """gradio_client hands a Video output back as a path (or a {"video": path} dict in some versions)."""
    return Path(result["video"] if isinstance(result, dict) else result)


def test_stylize_video_is_advertised_with_its_parameters_and_defaults(client, app_config):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/stylize_video"]
    params = {p["parameter_name"]: p for p in api["parameters"]}
    assert list(params) == ["video", "style", "alpha", "norm", "size", "preserve_color", "stroke", "stabilize"]
    assert not params["video"]["parameter_has_default"] and not params["style"]["parameter_has_default"]
    defaults = {k: params[k]["parameter_default"] for k in ("alpha", "size", "stroke", "stabilize", "preserve_color")}
    assert defaults == {
        "alpha": 1.0,
        "size": app_config.video_size,
        "stroke": 1.0,
        "stabilize": "flow",
        "preserve_color": "none",
    }


def test_a_clip_comes_back_as_a_playable_mp4_with_every_frame(client, demo, clips, files):
    from app.web.retention import video_folder

    job = client.submit(
        video=handle_file(clips["clip.mp4"]), style=handle_file(files["style.jpg"]), size=64, api_name="/stylize_video"
    )
    path = _video_path(job.result(timeout=TIMEOUT_S))
    assert path.suffix == ".mp4" and path.read_bytes()[4:8] == b"ftyp"  # an MP4 file
    info = probe(path)
    assert (info.codec, info.width, info.height) == ("h264", *CLIP_SIZE)
    with VideoReader(path) as r:
        assert sum(1 for _ in r.frames()) == CLIP_FRAMES
    # the server's copy is in its video folder and on Gradio's list of files to delete after the retention
    served = [Path(p) for s in demo.temp_file_sets for p in s if Path(p).name == "clip-stylized.mp4"]
    assert served and all(p.parent.parent == video_folder() for p in served)


@pytest.mark.parametrize(
    "name, extra, message",
    [
        ("text.mp4", {}, r"Video: 'text.mp4' is not a readable video \(corrupt, or not a video file\)\."),
        ("tone.mp4", {}, r"Video: 'tone.mp4' has no video stream \(audio only\)\."),
        ("clip.mp4", {"size": 4000}, r"video size must be a whole number of pixels from 16 to 512, got 4000"),
        ("clip.mp4", {"stabilize": "wobbly"}, r"stabilize must be one of 'flow', 'stats', 'both', 'none'"),
    ],
)
def test_bad_clips_and_settings_get_specific_errors_and_the_server_keeps_serving(
    client, clips, files, name, extra, message
):
    with pytest.raises(AppError, match=message):
        client.submit(
            video=handle_file(clips[name]),
            style=handle_file(files["style.jpg"]),
            api_name="/stylize_video",
            **({"size": 64} | extra),
        ).result(timeout=TIMEOUT_S)
    ok = client.submit(
        content=handle_file(files["content.png"]), style=handle_file(files["style.jpg"]), size=64, api_name="/stylize"
    )
    assert Path(ok.result(timeout=TIMEOUT_S)).is_file()


def test_video_jobs_share_the_model_queue(demo):
    fns = {fn.api_name: fn for fn in demo.fns.values()}
    for name in ("stylize_video", "stylize_video_ui"):
        assert fns[name].queue is not False and fns[name].concurrency_id == "models", name
    cam = fns["webcam_ui"]  # a stream holds its worker for its whole run: a group of its own, and a time limit
    assert cam.connection == "stream" and cam.concurrency_id == "webcam" and cam.time_limit > 0
