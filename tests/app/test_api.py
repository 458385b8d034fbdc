"""End to end through gradio_client against the app served on a free port (launched once per session)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(path: str | Path) -> Image.Image:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    img = Image.open(path)
    img.load()
    return img


def test_api_names_and_defaults(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    stylize = {p["parameter_name"]: p for p in api["/stylize"]["parameters"]}
    assert list(stylize)[:3] == ["content", "style", "alpha"]
    assert stylize["alpha"]["parameter_has_default"] and stylize["alpha"]["parameter_default"] == 1.0
    assert not stylize["content"]["parameter_has_default"]
    synth = {p["parameter_name"]: p for p in api["/synthesize"]["parameters"]}
    assert list(synth)[:2] == ["mask", "seed"]
    assert synth["seed"]["parameter_has_default"] and synth["seed"]["parameter_default"] == 0
    # UI-only events are not advertised
    assert set(api) == {"/stylize", "/synthesize", "/classes", "/stylize_video"}


def test_stylize_returns_a_png_at_the_requested_size(client, files):
    out = client.predict(
        content=handle_file(files["content.png"]),
        style=handle_file(files["style.jpg"]),
        alpha=0.7,
        size=96,
        api_name="/stylize",
    )
    img = _png(out)
    assert max(img.size) == 96 and img.size[0] > img.size[1]  # aspect of the 96x64 content kept


def test_stylize_size_zero_keeps_the_content_size_and_stroke_is_a_parameter(client, files):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/stylize"]
    stroke = {p["parameter_name"]: p for p in api["parameters"]}["stroke"]
    assert stroke["parameter_has_default"] and stroke["parameter_default"] == 1.0
    outputs = {}
    for stroke in (1.0, 2.0):
        job = client.submit(
            content=handle_file(files["content.png"]),
            style=handle_file(files["style.jpg"]),
            size=0,
            stroke=stroke,
            api_name="/stylize",
        )
        outputs[stroke] = _png(job.result(timeout=300))
    assert outputs[2.0].size == (96, 64)  # the 96x64 content's own size
    assert outputs[2.0].tobytes() != outputs[1.0].tobytes()  # the stroke size reached the model
    with pytest.raises(AppError, match=r"stroke size must be between 0.25 and 4, got 5\."):
        client.submit(
            content=handle_file(files["content.png"]),
            style=handle_file(files["style.jpg"]),
            size=64,
            stroke=5,
            api_name="/stylize",
        ).result(timeout=300)


def test_stylize_alpha_defaults_to_one(client, files):
    out = client.predict(
        content=handle_file(files["content.png"]), style=handle_file(files["style.jpg"]), api_name="/stylize"
    )
    assert max(_png(out).size) == 128  # the test config's default size


def test_synthesize_returns_a_png(client, files):
    out = client.predict(mask=handle_file(files["mask.png"]), seed=3, size=64, api_name="/synthesize")
    img = _png(out)
    assert max(img.size) == 64 and img.mode in ("RGB", "RGBA")


def test_classes_endpoint_lists_the_palette(client):
    classes = client.predict(api_name="/classes")
    assert classes[0]["name"] == "sky" and classes[0]["color"].startswith("#")
    from models.landscape.classes import class_records

    assert classes == class_records()  # the same records as `normlab classes --json`


@pytest.mark.parametrize("name", ["animated.gif", "cmyk.jpg", "sixteen.png", "transparent.png", "gray.png"])
def test_awkward_but_valid_uploads_work(client, files, name):
    out = client.predict(
        content=handle_file(files[name]), style=handle_file(files["style.jpg"]), size=64, api_name="/stylize"
    )
    assert max(_png(out).size) == 64


@pytest.mark.parametrize(
    "content, style, alpha, message",
    [
        ("corrupt.png", "style.jpg", 1.0, r"Content image: 'corrupt.png': (corrupt|not a readable)"),
        ("content.png", "not_an_image.png", 1.0, r"Style image: 'not_an_image.png': not a readable image"),
        ("tiny.png", "style.jpg", 1.0, r"Content image: .*12x40 is too small"),
        (
            "content.png",
            "huge.png",
            1.0,
            r"Style image: .*too large \(4.2 MP; the limit is 4.0 MP\) — downscale it "
            r"first, or start the server with --max-input-megapixels to raise it",
        ),
        ("content.png", "style.jpg", 1.5, r"alpha \(style strength\) must be between 0 and 1, got 1.5"),
        ("content.png", "style.jpg", -0.2, r"must be between 0 and 1, got -0.2"),
    ],
)
def test_bad_stylize_inputs_get_specific_errors_and_the_server_keeps_serving(
    client, files, content, style, alpha, message
):
    with pytest.raises(AppError, match=message):
        client.predict(
            content=handle_file(files[content]),
            style=handle_file(files[style]),
            alpha=alpha,
            size=64,
            api_name="/stylize",
        )
    ok = client.predict(
        content=handle_file(files["content.png"]), style=handle_file(files["style.jpg"]), size=64, api_name="/stylize"
    )
    assert _png(ok)


@pytest.mark.parametrize(
    "mask, extra, message",
    [
        ("empty_mask.png", {}, "nothing is painted"),
        ("offpalette_mask.png", {}, "matches no class colour"),
        ("corrupt.png", {}, "Mask image: corrupt or truncated image"),
        ("mask.png", {"norm": "fancy"}, r"No SPADE checkpoint for normalizer 'fancy'; available: "),
        ("mask.png", {"size": 4096}, r"size must be a whole number of pixels from 16 to 512, got 4096"),
        ("mask.png", {"seed": -1}, r"seed must be a whole number from 0 to 2147483647, got -1"),
    ],
)
def test_bad_synthesize_inputs_get_specific_errors(client, files, mask, extra, message):
    with pytest.raises(AppError, match=message):
        client.predict(mask=handle_file(files[mask]), api_name="/synthesize", **extra)


def test_a_burst_of_six_concurrent_requests_all_complete(client, files, engine):
    def call(i: int) -> Image.Image:
        if i % 2:
            return _png(client.predict(mask=handle_file(files["mask.png"]), seed=i, size=64, api_name="/synthesize"))
        return _png(
            client.predict(
                content=handle_file(files["content.png"]),
                style=handle_file(files["style.jpg"]),
                alpha=i / 6,
                size=64,
                api_name="/stylize",
            )
        )

    with ThreadPoolExecutor(6) as pool:
        images = list(pool.map(call, range(6)))
    assert len(images) == 6 and all(max(im.size) == 64 for im in images)
    # each checkpoint was loaded once and reused by every request
    assert len(engine.caches["adain"].loaded()) == 1 and len(engine.caches["spade"].loaded()) == 1


def test_model_calls_share_one_bounded_queue(demo, app_config):
    model_events = {
        "stylize",
        "synthesize",
        "stylize_ui",
        "synthesize_ui",
        "compare_stylize_ui",
        "compare_synthesize_ui",
    }
    fns = {fn.api_name: fn for fn in demo.fns.values()}
    assert model_events <= set(fns)
    for name in model_events:
        assert fns[name].queue is not False and fns[name].concurrency_id == "models", name
        assert fns[name].concurrency_limit in ("default", app_config.concurrency), name
    assert demo._queue.default_concurrency_limit == app_config.concurrency
    assert demo._queue.max_size == app_config.max_queue
