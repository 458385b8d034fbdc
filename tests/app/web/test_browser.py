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


def open_app(page, url: str, timeout_ms: int = 90_000) -> None:
    """Load the page and wait for the app to be drawn. Not ``networkidle`` (tools.screenshots.open_app): with the
    webcam's stream on the page Gradio keeps a heartbeat request open for the session, so the network never idles.
    A page that has not drawn in ``timeout_ms`` is loaded once more (the whole suite pinned to one core left one
    undrawn for 60 s, while the same tests alone load it in seconds); then it fails saying what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in (1, 2):
        try:
            page.goto(url, wait_until="load", timeout=timeout_ms)
            page.locator("#stylize-btn").wait_for(timeout=timeout_ms)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                shown = page.evaluate("() => document.body ? document.body.innerText.slice(0, 300) : ''")
                raise AssertionError(f"the app at {url} was not drawn in 2 x {timeout_ms} ms; the page shows {shown!r}")


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
        try:
            open_app(pg, server)
        except AssertionError:
            import faulthandler

            pg.screenshot(path=str(artifacts / "browser_not_drawn.png"), full_page=True)  # what stalled
            with open(artifacts / "browser_not_drawn_threads.txt", "w") as f:  # and what this process was doing
                faulthandler.dump_traceback(f, all_threads=True)
            raise
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
def fresh_page(page, app_config, server):
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
        open_app(page, server)  # back to the session's server: later tests share this page


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
    # "Surprise me" draws a new seed, and the live preview shows the new look with no other click
    seed_box = page.get_by_role("spinbutton", name="Seed")
    old_seed, old_src = seed_box.input_value(), ui_browser._output_src(page, "synthesize-output")
    page.locator("#surprise-btn").click()
    ui_browser._wait_for_new_output(page, "synthesize-output", old_src, 60_000)
    assert seed_box.input_value() != old_seed
    assert ui_browser.caption(page, "synthesize-caption").startswith("Live preview · SPADE · ")
    reseeded = ui_browser.output_pixels_mean(page, "synthesize-output")
    assert sum(abs(a - b) for a, b in zip(reseeded, after)) > 1.0, (after, reseeded)  # another look


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
        # a clipped page shot: an element shot waits for the element to hold still, and new frames keep moving it
        # (on one busy core it never did, and the test failed on its artifact)
        box = cam.locator("#webcam-accordion").bounding_box()
        cam.screenshot(path=str(artifacts / "browser_webcam.png"), clip=box, full_page=True)
    finally:
        browser.close()
    assert caption.startswith("Webcam · ") and " norm · " in caption, caption
    assert max(size) <= 256 and size[0] % 8 == 0 and size[1] % 8 == 0, size


# Every image input, where it is, and the words its messages start with (a file is dropped on its empty drop area).
DROP_TARGETS = [
    ("Style transfer", None, "#content-input button.upload-container", "Content image"),
    ("Style transfer", None, "#style-input button.upload-container", "Style image"),
    ("Style transfer", "Blend more styles", "#style2-input button.upload-container", "Style 2 image"),
    ("Style transfer", "Spatial control", "#region-style-input button.upload-container", "Unpainted-area style image"),
    ("Paint to image", None, "#label-editor .image-container", "Label map"),
    ("Paint to image", None, "#spade-style-input button.upload-container", "Style image"),
    ("Paint to image", "Then stylize with AdaIN", "#then-style-input button.upload-container", "style image"),
    ("Batch", None, "#batch-style button.upload-container", "Style image"),
    ("Video", None, "#video-style-input button.upload-container", "Style image"),
]


@pytest.fixture(scope="module")
def bad_drops(app_config) -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, MIME type, the words of its message): undecodable, too small, too large."""
    from PIL import Image

    from tests.app.conftest import png_bytes

    side = int((app_config.max_input_pixels * 1.2) ** 0.5)  # one uniform colour: a few kB however large
    return {
        "notes.jpg": (b"shopping list: eggs, milk\n" * 20, "image/jpeg", "not a readable image"),
        "tiny.png": (png_bytes(Image.new("RGB", (4, 4), (200, 30, 30))), "image/png", "4x4 is too small"),
        "huge.png": (png_bytes(Image.new("RGB", (side, side), (30, 90, 200))), "image/png", "is too large"),
    }


def test_every_image_input_reports_a_bad_file_on_drop_without_a_click(page, bad_drops, artifacts):
    """Drop (no click, no file chooser) an undecodable, a too-small and a too-large file on every image input: each
    gets its specific message as a toast. The latencies are written to browser_drop_latency.txt (the issue asks for
    under a second; a shared CI machine is too noisy to assert that, so the wait allows 15 s)."""
    import time

    latencies = []
    for tab, accordion, selector, what in DROP_TARGETS:
        page.get_by_role("tab", name=tab, exact=True).first.click()
        if accordion:
            header = page.locator("button, .label-wrap").filter(has_text=accordion).first
            if page.locator(selector).count() == 0 or not page.locator(selector).first.is_visible():
                header.click()
        page.locator(selector).first.wait_for(state="attached", timeout=30_000)
        for name, (data, mime, words) in bad_drops.items():
            ui_browser.close_toasts(page)
            t0 = time.perf_counter()
            ui_browser.drop_file(page, selector, name, data, mime)
            message = ui_browser.error_toast(page, timeout_ms=15_000)
            latencies.append((selector, name, time.perf_counter() - t0))
            assert what in message and f"'{name}'" in message and words in message, (selector, message)
            remove = page.locator(f"#{selector[1:].split()[0]} button[aria-label='Remove Image']")
            if remove.count():  # the refused picture stays shown (Gradio's own preview): clear it for the next drop
                remove.first.click()
    ui_browser.close_toasts(page)
    report = "\n".join(f"{s}\t{n}\t{t:.2f} s" for s, n, t in latencies)
    (artifacts / "browser_drop_latency.txt").write_text(report + "\n")
    print(report)


@pytest.mark.parametrize("how", ["drop", "choose"])
def test_a_good_label_file_dropped_on_the_canvas_is_drawn(page, server, artifacts, tmp_path, how):
    """A label file dropped on the canvas (or chosen with its upload button) reaches the server and is drawn:
    Synthesize works from it (the editor alone never sent it: "The canvas is empty")."""
    import numpy as np
    from PIL import Image

    from models.landscape.classes import ids_to_color
    from tests.app.conftest import png_bytes

    ids = np.zeros((64, 96), np.int64)
    ids[32:] = 5  # two classes: the top and the bottom half
    label = png_bytes(Image.fromarray(np.ascontiguousarray(ids_to_color(ids)[..., :3]).astype(np.uint8)))
    open_app(page, server)  # a new session: the canvas starts blank whatever earlier tests left on it
    page.get_by_role("tab", name="Paint to image", exact=True).first.click()
    (tmp_path / "layout.png").write_bytes(label)

    def act() -> None:
        if how == "drop":
            ui_browser.drop_file(page, "#label-editor .image-container", "layout.png", label)
        else:
            page.locator("#label-editor input[type=file]").set_input_files(str(tmp_path / "layout.png"))

    # the editor re-renders its upload input after the tab opens: a file handed to a replaced element is lost, so
    # the helper retries until the server's label-file handler is called with it
    ui_browser.hand_label_file(page, act, "layout.png")
    # the server answers with the fitted map and the editor draws it: the bottom half in class 5's colour (a fixed
    # wait raced the upload on a busy machine, and Synthesize then saw the blank canvas)
    ui_browser.wait_for_canvas_colour(
        page, tuple(int(v) for v in ids_to_color(np.full((1, 1), 5))[0, 0, :3]), 2000, timeout_s=60
    )
    old = ui_browser._output_src(page, "synthesize-output")
    page.locator("#synthesize-btn").click()  # an undrawn drop would leave the blank canvas: "The canvas is empty"
    ui_browser._wait_for_new_output(page, "synthesize-output", old, 120_000)
    page.locator("#label-editor").screenshot(path=str(artifacts / f"browser_label_{how}.png"))
    assert "SPADE · " in ui_browser.caption(page, "synthesize-caption")  # a live preview may land first
    assert page.locator(".toast-body.error").count() == 0


def _water_pixels(pixels) -> int:
    """Pixels of the class colour "water" in a canvas screenshot."""
    import numpy as np

    from models.landscape.classes import class_records

    hexcol = next(c["color"] for c in class_records() if c["name"] == "water").lstrip("#")
    rgb = np.array([int(hexcol[i : i + 2], 16) for i in (0, 2, 4)])
    return int((np.abs(pixels.astype(int) - rgb).max(-1) <= 12).sum())


def test_a_stroke_begun_outside_the_picture_paints_the_part_inside(page, server, app_config, artifacts):
    """Sweeps that start in the margin right of and above the picture paint from where they enter it: the canvas
    shows them and the server synthesizes from them (a blank canvas would be refused as empty)."""
    open_app(page, server)  # a new session: a blank canvas
    ui_browser.pick_class(page, "water")
    ui_browser.select_brush(page)
    r = ui_browser.picture_rect(page, app_config.canvas_size)
    cx, cy = (r["left"] + r["right"]) / 2, (r["top"] + r["bottom"]) / 2
    before = _water_pixels(ui_browser.canvas_pixels(page))
    ui_browser.drag(page, (r["right"] + 12, cy), (cx, cy))  # from the right margin to the centre
    ui_browser.drag(page, (cx, r["top"] - 12), (cx, r["top"] + r["side"] * 0.3))  # from the top margin down
    page.wait_for_timeout(500)
    painted = _water_pixels(ui_browser.canvas_pixels(page)) - before
    page.locator("#label-editor").screenshot(path=str(artifacts / "browser_stroke_from_outside.png"))
    # the two strokes cover about (side/2 + 0.3 side) x brush width on screen; a missed start paints nothing
    assert painted > r["side"] * 0.5 * 20, painted
    old = ui_browser._output_src(page, "synthesize-output")
    page.locator("#synthesize-btn").click()
    ui_browser._wait_for_new_output(page, "synthesize-output", old, 120_000)
    assert "SPADE · " in ui_browser.caption(page, "synthesize-caption")  # a live preview may land first


def test_changing_class_never_blanks_the_canvas(page, server, artifacts):
    """Picking a class sends the brush colour through the server; the canvas stays as it is meanwhile (it used to
    be covered white for 1-6 s by Gradio's progress overlay)."""
    import numpy as np

    open_app(page, server)
    page.get_by_role("tab", name="Paint to image").click()
    ui_browser.load_preset(page)
    shown = ui_browser.canvas_pixels(page).astype(float)
    diffs = []
    for name in ("sand", "snow", "tree"):
        page.locator("#class-picker label").filter(has_text=name).first.click()
        for _ in range(6):  # sample the canvas while the brush update is on its way
            diffs.append(float(np.abs(ui_browser.canvas_pixels(page).astype(float) - shown).mean()))
            page.wait_for_timeout(100)
    assert max(diffs) < 8.0, diffs  # a white overlay over the picture differs by ~100 on average


def _canvas_when(page, ok, timeout_ms: int = 15_000):
    """The label canvas once ``ok(pixels)`` holds, or as it is after ``timeout_ms``: a busy machine draws late, and
    a fixed wait long enough for CI would slow every run (each read is an element screenshot, ~1 s under load)."""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        pixels = ui_browser.canvas_pixels(page)
        if ok(pixels) or time.monotonic() > deadline:
            return pixels
        page.wait_for_timeout(250)


def test_undo_and_redo_keep_working_across_a_class_change(page, server, artifacts):
    import numpy as np

    def differs(a, b) -> float:
        return float(np.abs(a.astype(float) - b.astype(float)).mean())

    open_app(page, server)
    page.get_by_role("tab", name="Paint to image").click()
    ui_browser.load_preset(page)
    ui_browser.pick_class(page, "water")
    ui_browser.stroke(page, 0.45)
    page.wait_for_timeout(500)
    after_water = ui_browser.canvas_pixels(page)
    ui_browser.pick_class(page, "sand")  # the class change goes through the server and updates the editor
    ui_browser.stroke(page, 0.6)
    page.wait_for_timeout(500)
    after_sand = _canvas_when(page, lambda px: differs(px, after_water) > 1.0)
    assert differs(after_water, after_sand) > 1.0  # the sand stroke is there
    page.locator("#label-editor button[aria-label=Undo]").click()
    page.wait_for_timeout(500)
    undone = _canvas_when(page, lambda px: differs(px, after_water) < 0.5)
    assert differs(undone, after_water) < 0.5  # undone: back to the water stroke
    page.locator("#label-editor button[aria-label=Redo]").click()
    page.wait_for_timeout(500)
    assert differs(_canvas_when(page, lambda px: differs(px, after_sand) < 0.5), after_sand) < 0.5  # redone
    page.locator("#label-editor button[aria-label=Undo]").click()
    page.locator("#label-editor button[aria-label=Undo]").click()  # and the stroke before the class change too
    page.wait_for_timeout(500)
    undone = _canvas_when(page, lambda px: _water_pixels(px) < _water_pixels(after_water))
    assert differs(undone, after_water) > 1.0 and _water_pixels(undone) < _water_pixels(after_water)
    page.locator("#label-editor").screenshot(path=str(artifacts / "browser_undo_redo.png"))


def test_compare_captions_are_shown_whole(page, artifacts):
    """Each Compare caption (norm, size, seconds) is shown whole: it used to end in "0.…" in a 3-column gallery.
    Checked on a narrow window (900 px), where the columns are narrowest."""
    page.set_viewport_size({"width": 900, "height": 1000})
    page.get_by_role("tab", name="Style transfer").click()
    page.locator("#content-input input[type=file]").set_input_files(str(EXAMPLES / "chelsea.jpg"))
    page.locator("#style-input input[type=file]").set_input_files(str(EXAMPLES / "starry_night.jpg"))
    page.locator("#content-input img").wait_for()
    page.locator("#style-input img").wait_for()
    page.locator("#stylize-compare-btn").click()
    page.locator("#stylize-compare .caption-label").first.wait_for(timeout=180_000)
    page.wait_for_timeout(500)
    captions = page.evaluate(
        """() => [...document.querySelectorAll('#stylize-compare .caption-label')]
             .map((e) => [e.textContent.trim(), e.scrollWidth <= e.clientWidth + 1])"""
    )
    page.locator("#stylize-compare").screenshot(path=str(artifacts / "browser_compare_captions.png"))
    page.set_viewport_size({"width": 1280, "height": 1000})
    assert len(captions) >= 2
    for text, whole in captions:
        assert whole and text.endswith(" s") and " norm · " in text, captions


def test_a_bad_file_among_batch_contents_is_named_on_drop(page, bad_drops):
    """The Batch tab's content list: a file the run would skip is named as soon as it is dropped (a warning: the
    other files still run)."""
    page.get_by_role("tab", name="Batch", exact=True).first.click()
    ui_browser.close_toasts(page)
    data, mime, words = bad_drops["notes.jpg"]
    ui_browser.drop_file(page, "#batch-files button.upload-container", "notes.jpg", data, mime)
    message = ui_browser.error_toast(page, timeout_ms=15_000)
    assert "Batch: Content (notes.jpg) image: 'notes.jpg'" in message and words in message, message
    ui_browser.close_toasts(page)
