"""The app in a real headless Chromium (Playwright + Debian's chromium): upload, click, paint, see results.

Screenshots are kept as test artifacts in runs/test-artifacts/ (override with $NORMLAB_TEST_ARTIFACTS).
Without Chromium or Playwright the tests skip loudly, except under CI=true, where they fail.
"""

from __future__ import annotations

import os

import pytest

from models.common.assets import NORM_ORDER
from tools import screenshots as ui_browser

EXAMPLES = ui_browser.EXAMPLES


def open_app(page, url: str, timeout_ms: int = 60_000) -> None:
    """Load the page and wait for the app to be drawn. Not ``networkidle`` (tools.screenshots.open_app): with the
    webcam's stream on the page Gradio keeps a heartbeat request open for the session, so the network never idles."""
    page.goto(url, wait_until="load", timeout=timeout_ms)
    page.locator("#stylize-btn").wait_for(timeout=timeout_ms)


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; never `playwright install`)"
    if ui_browser.find_chromium() is None:
        return "no system Chromium (apt-get install -y chromium, or set NORMLAB_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def page(server, artifacts):
    reason = _unavailable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(f"BROWSER TESTS SKIPPED: {reason}")
    with ui_browser.chromium_page(1280, 1000) as pg:
        open_app(pg, server)
        yield pg


def test_stylize_in_the_browser(page, app_config, artifacts):
    caption = ui_browser.stylize(page, EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg")
    page.screenshot(path=str(artifacts / "browser_style_transfer.png"), full_page=True)
    norms = list(NORM_ORDER)
    assert caption.startswith("AdaIN · ") and any(f"{n} norm" in caption for n in norms)
    # the output is the decoded PNG at the configured default size (long side)
    width = page.evaluate("() => document.querySelector('#stylize-output img').naturalWidth")
    assert width == app_config.default_size


def test_paint_a_stroke_and_synthesize_in_the_browser(page, artifacts):
    caption = ui_browser.paint_and_synthesize(page)
    page.screenshot(path=str(artifacts / "browser_paint_to_image.png"), full_page=True)
    assert caption.startswith("SPADE · ") and "256×256 px" in caption


def test_a_corrupt_upload_shows_a_specific_error_and_the_app_keeps_working(page, files, artifacts):
    page.get_by_role("tab", name="Style transfer").click()
    page.locator("#content-input input[type=file]").set_input_files(str(files["corrupt.png"]))
    page.locator("#stylize-btn").click()
    message = ui_browser.error_toast(page)
    page.screenshot(path=str(artifacts / "browser_error_toast.png"))
    assert "Content image: 'corrupt.png'" in message
    caption = ui_browser.stylize(page, EXAMPLES / "coffee.jpg", EXAMPLES / "great_wave.jpg")
    assert caption.startswith("AdaIN · ")


@pytest.fixture
def fresh_page(page, app_config):
    """The browser page, pointed at a server of its own: the session server has served the API tests' load."""
    from app.web.ui import build_demo, launch_kwargs
    from tests.app.conftest import free_port

    demo = build_demo(app_config)
    demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(app_config),
    )
    try:
        open_app(page, demo.local_url)
        yield page
    finally:
        demo.close()


def test_pick_a_named_class_paint_and_the_live_preview_follows(fresh_page, artifacts):
    """The issue's browser check: a named class, one stroke, and the preview changes with no button click."""
    page = fresh_page
    page.get_by_role("tab", name="Paint to image").click()
    page.locator("#class-picker label").filter(has_text="snow").first.wait_for()  # the swatches carry names
    page.get_by_role("button", name="Load preset").click()  # a full layout, so the stroke's class is what changes
    page.wait_for_function(
        "() => (document.querySelector('#synthesize-caption') || {}).innerText?.startsWith('Live preview')",
        timeout=60_000,
    )  # the preset alone re-synthesizes
    ui_browser._wait_for_new_output(page, "synthesize-output", "", 60_000)  # the preview image is decoded
    before = ui_browser.output_pixels_mean(page, "synthesize-output")
    # a water band through the middle (the canvas element is larger than the image: stay near its centre)
    caption = ui_browser.live_preview_after_stroke(page, "water", y_frac=0.45)
    page.screenshot(path=str(artifacts / "browser_paint_live_preview.png"), full_page=True)
    assert caption.startswith("Live preview · SPADE · ")
    after = ui_browser.output_pixels_mean(page, "synthesize-output")
    assert sum(abs(a - b) for a, b in zip(after, before)) > 1.0, (before, after)  # the picture changed
    # the palette does not cover the canvas: the brush has one fixed colour, so no colour popup is open
    assert page.locator("#label-editor [role=dialog], #label-editor .color-picker").count() == 0


def test_the_webcam_is_stylized_live_in_the_browser(page, server, artifacts):
    """Chromium's fake camera (a moving test pattern) streams into the webcam mode; stylized frames appear.
    A second Chromium from the same Playwright (``page`` skips when there is none), started with a fake camera."""
    args = [*ui_browser.CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    browser = page.context.browser.browser_type.launch(
        executable_path=ui_browser.find_chromium(), headless=True, args=args
    )
    try:
        cam = browser.new_page(viewport={"width": 1280, "height": 1000})
        open_app(cam, server)
        cam.get_by_role("tab", name="Video").click()
        cam.locator("#video-style-input input[type=file]").set_input_files(str(EXAMPLES / "great_wave.jpg"))
        cam.locator("#video-style-input img").wait_for(timeout=60_000)
        cam.locator("#webcam-accordion").click()  # the webcam mode
        cam.locator("#webcam-input [title='grant webcam access'] button").click(timeout=60_000)
        cam.locator("#webcam-input button[aria-label='capture photo']").click(timeout=60_000)  # "Record": stream
        cam.wait_for_function(
            """() => { const i = document.querySelector('#webcam-output img');
            return i && i.complete && i.naturalWidth > 0; }""",
            timeout=180_000,
        )
        # the stream goes on: later frames come through the same session's stylizer
        cam.wait_for_function(
            "() => /frame ([3-9]|[0-9]{2,})/.test((document.querySelector('#webcam-caption') || {}).innerText || '')",
            timeout=180_000,
        )
        caption = next(
            line for line in cam.locator("#webcam-caption").inner_text().splitlines() if line.startswith("Webcam")
        )  # (a timer may precede it while a frame is on its way)
        size = cam.evaluate(
            "() => { const i = document.querySelector('#webcam-output img');"
            " return [i.naturalWidth, i.naturalHeight]; }"
        )
        cam.locator("#webcam-accordion").screenshot(path=str(artifacts / "browser_webcam.png"))
    finally:
        browser.close()
    assert caption.startswith("Webcam · ") and " norm · " in caption, caption
    assert max(size) <= 256 and size[0] % 8 == 0 and size[1] % 8 == 0, size
