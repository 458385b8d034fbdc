"""Drive the running web app in headless Chromium: the browser tests and the README screenshots share this.

``python -m tools.screenshots --url http://127.0.0.1:7860/ --out docs/screenshots`` writes
``style_transfer.png``, ``paint_to_image.png`` and ``paint_canvas.png`` (the named class picker and the live
preview). Needs the ``playwright`` Python package and a system
Chromium (Debian: ``apt-get install -y chromium``); it never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


def find_chromium() -> str | None:
    """A system Chromium: $NORMLAB_CHROMIUM, else chromium / chromium-browser on PATH."""
    env = os.environ.get("NORMLAB_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_page(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A fresh headless page (no network beyond the app itself is needed)."""
    from playwright.sync_api import sync_playwright

    exe = find_chromium()
    if exe is None:
        raise RuntimeError("no Chromium found: apt-get install -y chromium (or set NORMLAB_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def open_app(page: Any, url: str) -> None:
    page.goto(url, wait_until="load")  # not "networkidle": the webcam stream's heartbeat keeps a request open
    page.locator("#stylize-btn").wait_for()


def _wait_for_new_output(page: Any, elem_id: str, old_src: str | None, timeout_ms: int) -> None:
    """Wait until the output image shows a new, fully decoded picture. An error toast ends the wait at once with
    its text (otherwise a refused request would only show as a timeout minutes later)."""
    try:
        page.wait_for_function(
            """([sel, old]) => { const i = document.querySelector(sel + ' img');
                if (document.querySelector('.toast-body.error')) return true;
                return i && i.src && i.src !== old && i.complete && i.naturalWidth > 0; }""",
            arg=[f"#{elem_id}", old_src or ""],
            timeout=timeout_ms,
        )
    except Exception as e:  # playwright's TimeoutError: say what the page showed instead
        shown = page.evaluate(
            """(sel) => { const i = document.querySelector(sel + ' img'), b = document.querySelector(sel);
                return {src: i ? i.src : null, text: b ? b.innerText : null,
                        toasts: [...document.querySelectorAll('.toast-body')].map((t) => t.innerText)}; }""",
            f"#{elem_id}",
        )
        raise AssertionError(f"no new picture in #{elem_id} after {timeout_ms} ms (was {old_src!r}): {shown}") from e
    errors = page.locator(".toast-body.error")
    if errors.count():
        raise AssertionError(f"the app showed an error instead of a new #{elem_id}: {errors.first.inner_text()!r}")


def _output_src(page: Any, elem_id: str) -> str | None:
    return page.evaluate(
        "(sel) => { const i = document.querySelector(sel + ' img'); return i ? i.src : null; }", f"#{elem_id}"
    )


def caption(page: Any, elem_id: str, timeout_ms: int = 30_000, skip: str | None = None) -> str:
    """The text of a Markdown caption once Gradio's progress overlay (a "0.1s" timer while the event is pending)
    has left it: the overlay's text is part of the element's innerText. A caption starting with ``skip`` (say,
    an earlier live preview's, which a click's result replaces) is waited past too."""
    # checked and read in one step: a later event (the live preview) may put the overlay back in between
    try:
        handle = page.wait_for_function(
            """([sel, skip]) => { const e = document.querySelector(sel);
                const clear = e && !e.querySelector('.progress-text, .meta-text, .meta-text-center, .eta-bar');
                const text = clear ? e.innerText.trim() : "";
                if (skip && text.startsWith(skip)) return false;
                return text.length > 0 && !/^[0-9.]+s(?![A-Za-z])/.test(text) ? text : false; }""",
            arg=[f"#{elem_id}", skip or ""],
            timeout=timeout_ms,
        )
    except Exception as e:  # playwright's TimeoutError: say what the caption showed instead
        shown = page.evaluate(
            "(sel) => { const e = document.querySelector(sel); return e ? e.innerText : null; }", f"#{elem_id}"
        )
        raise AssertionError(f"no caption in #{elem_id} after {timeout_ms} ms (skipping {skip!r}): {shown!r}") from e
    return str(handle.json_value())


def stylize(page: Any, content: Path, style: Path, timeout_ms: int = 120_000) -> str:
    """Upload content and style, click Stylize, wait for the new result; returns the caption text."""
    close_toasts(page)  # an earlier error's toast would end the wait for the result
    page.get_by_role("tab", name="Style transfer").click()
    page.locator("#content-input input[type=file]").set_input_files(str(content))
    page.locator("#style-input input[type=file]").set_input_files(str(style))
    page.locator("#content-input img").wait_for()
    page.locator("#style-input img").wait_for()
    old = _output_src(page, "stylize-output")
    page.locator("#stylize-btn").click()
    _wait_for_new_output(page, "stylize-output", old, timeout_ms)
    return caption(page, "stylize-caption")


def paint_and_synthesize(page: Any, preset: bool = False, timeout_ms: int = 120_000) -> str:
    """Optionally load a preset layout, paint a stroke with the brush, click Synthesize; returns the caption."""
    close_toasts(page)  # an earlier error's toast would end the wait for the result
    page.get_by_role("tab", name="Paint to image").click()
    if preset:
        load_preset(page)
    page.locator("#label-editor button[aria-label=Brush]").click()
    box = page.locator("#label-editor canvas").first.bounding_box()
    x0, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.75
    page.mouse.move(x0, y)
    page.mouse.down()
    # few pointer events: headless Chromium renders the canvas in software, each move costs a redraw
    for k in range(1, 5):
        page.mouse.move(x0 + k * box["width"] * 0.1, y - k * 10)
    page.mouse.up()
    old = _output_src(page, "synthesize-output")
    page.locator("#synthesize-btn").click()
    _wait_for_new_output(page, "synthesize-output", old, timeout_ms)
    # the stroke's live preview may land after the click's snapshot of the old picture: wait for the click's own
    return caption(page, "synthesize-caption", timeout_ms, skip="Live preview")


# requests the label editor makes while it takes a new value or brush: layer fetches, layer uploads, and the
# handlers its change/upload events call (the queue's open event stream, /queue/data, is not one of them)
_EDITOR_TRAFFIC = ("/gradio_api/file=", "/gradio_api/upload", "/run/predict", "/gradio_api/queue/join")


@contextmanager
def _editor_refetches(page: Any, timeout_ms: int, at_least_one: bool, quiet_ms: int = 1000) -> Iterator[None]:
    """Around an action that sends the label editor a new value or brush from the server: afterwards, wait until
    the editor's traffic (:data:`_EDITOR_TRAFFIC`) has finished and stayed quiet for ``quiet_ms``, then let it
    draw. A brush update alone sets off 1-3 s of it (the editor re-fetches its layers, re-uploads them and fires
    its change and upload events several times, ~100 requests); a stroke drawn meanwhile can be replaced by a
    re-fetched layer. With ``at_least_one``, also wait for a layer fetch to begin (the value comes through the
    queue, with no response to wait for)."""
    import time

    in_flight: set[Any] = set()
    fetched: list[Any] = []
    last = [time.monotonic()]

    def started(request: Any) -> None:
        if any(part in request.url for part in _EDITOR_TRAFFIC):
            in_flight.add(request)
            last[0] = time.monotonic()
            if "/gradio_api/file=" in request.url:
                fetched.append(request)

    def ended(request: Any) -> None:
        if request in in_flight:
            in_flight.discard(request)
            last[0] = time.monotonic()

    events = (("request", started), ("requestfinished", ended), ("requestfailed", ended))
    for event, handler in events:
        page.on(event, handler)
    try:
        yield
        deadline = time.monotonic() + timeout_ms / 1000
        page.wait_for_timeout(200)  # the editor starts its re-fetches
        while time.monotonic() < deadline:
            quiet = not in_flight and (time.monotonic() - last[0]) * 1000 >= quiet_ms
            if quiet and (fetched or not at_least_one):
                break
            page.wait_for_timeout(100)
        if at_least_one and not fetched:
            raise TimeoutError(f"the label editor fetched no new layers within {timeout_ms} ms")
        page.wait_for_timeout(300)  # and draws what they brought
    finally:
        for event, handler in events:
            page.remove_listener(event, handler)


def pick_class(page: Any, name: str, timeout_ms: int = 60_000) -> None:
    """Choose a class in the paint tab's named picker (it sets the brush colour) and wait until the editor has it.

    The brush colour comes back from the server, and the editor then re-fetches and re-uploads its layers: a
    stroke made meanwhile lands in the old colour or is lost (a fixed 300 ms wait lost one on a busy CI machine;
    so did waiting only for the first round of fetches). So wait for the picker's response and for the editor's
    traffic to go quiet, then let it redraw."""
    page.get_by_role("tab", name="Paint to image").click()
    if page.locator(f'#class-picker input[value="{name}"]').is_checked():
        return  # no change event: nothing comes back

    def is_brush_update(response: Any) -> bool:
        return response.url.endswith("/run/predict") and f'"{name}"' in (response.request.post_data or "")

    with _editor_refetches(page, timeout_ms, at_least_one=False):
        with page.expect_response(is_brush_update, timeout=timeout_ms):
            page.locator("#class-picker label").filter(has_text=name).first.click()


def load_preset(page: Any, timeout_ms: int = 60_000) -> None:
    """Click *Load preset* and wait until the editor has fetched and drawn the preset's layers (it comes through
    the queue; a fixed 3 s wait was a guess that a busy machine could outlast)."""
    page.get_by_role("tab", name="Paint to image").click()
    with _editor_refetches(page, timeout_ms, at_least_one=True):
        page.locator("#preset-btn").click()


def stroke(page: Any, y_frac: float = 0.75, x_from: float = 0.35, x_to: float = 0.65) -> None:
    """One horizontal brush stroke across the label canvas, in fractions of the canvas element (which is larger than
    the image: stay near the centre). Selects the brush tool first unless it is already selected."""
    brush = page.locator("#label-editor button[aria-label=Brush]")
    if brush.get_attribute("aria-pressed") != "true" and "selected" not in (brush.get_attribute("class") or ""):
        brush.click()
    box = page.locator("#label-editor canvas").first.bounding_box()
    y = box["y"] + box["height"] * y_frac
    x0, x1 = box["x"] + box["width"] * x_from, box["x"] + box["width"] * x_to
    page.mouse.move(x0, y)
    page.mouse.down()
    for k in range(1, 6):  # few pointer events: headless Chromium redraws the canvas in software on each
        page.mouse.move(x0 + (x1 - x0) * k / 5, y)
    page.mouse.up()


def select_brush(page: Any) -> None:
    """Select the canvas's brush tool (its button toggles: click only when it is not selected)."""
    brush = page.locator("#label-editor button[aria-label=Brush]")
    if "highlight" not in (brush.get_attribute("class") or ""):
        brush.click()


def picture_rect(page: Any, canvas_side: int) -> dict[str, float]:
    """Where the picture is on the label canvas (client px): the editor centres it at the zoom its toolbar shows."""
    box = page.locator("#label-editor canvas").first.bounding_box()
    zoom = float(page.locator("#label-editor .zoom-number span").inner_text().strip().rstrip("%")) / 100
    side = canvas_side * zoom
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    return {"left": left, "top": top, "right": left + side, "bottom": top + side, "side": side}


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    """Press at ``start``, move in ``steps`` to ``end``, release (client px)."""
    page.mouse.move(*start)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(start[0] + (end[0] - start[0]) * k / steps, start[1] + (end[1] - start[1]) * k / steps)
    page.mouse.up()


def canvas_pixels(page: Any) -> Any:
    """A screenshot of the label canvas element as an ``(H, W, 3)`` uint8 array."""
    import io

    import numpy as np
    from PIL import Image

    png = page.locator("#label-editor canvas").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def output_pixels_mean(page: Any, elem_id: str) -> list[float]:
    """Mean R, G, B (0-255) of the image shown in an output component, read back from the page."""
    return page.evaluate(
        """(sel) => { const i = document.querySelector(sel + ' img');
        const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(i, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
        let r = 0, gr = 0, b = 0; for (let k = 0; k < d.length; k += 4) { r += d[k]; gr += d[k + 1]; b += d[k + 2]; }
        const n = d.length / 4; return [r / n, gr / n, b / n]; }""",
        f"#{elem_id}",
    )


def live_preview_after_stroke(page: Any, name: str, y_frac: float = 0.75, timeout_ms: int = 60_000) -> str:
    """Pick class ``name``, paint a stroke and wait for the live preview (no button click); returns its caption."""
    pick_class(page, name)
    page.wait_for_timeout(1500)  # let a preview still in flight from earlier changes land first
    old = _output_src(page, "synthesize-output")
    for attempt in range(3):  # the brush button toggles: a stroke with the tool off draws nothing, so retry
        stroke(page, y_frac)
        try:
            _wait_for_new_output(page, "synthesize-output", old, timeout_ms // 3)
            break
        except Exception:  # playwright's TimeoutError
            if attempt == 2:
                raise
            page.locator("#label-editor button[aria-label=Brush]").click()
    page.wait_for_function(
        "() => (document.querySelector('#synthesize-caption') || {}).innerText?.startsWith('Live preview')",
        timeout=timeout_ms,
    )
    return caption(page, "synthesize-caption")


# A file dropped from outside the page: the same DataTransfer + drag events Chromium makes for a real drop.
_DROP_JS = """async ([sel, name, b64, mime]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: mime}));
  const target = document.querySelector(sel);
  if (!target) throw new Error('nothing to drop on: ' + sel);
  for (const type of ['dragenter', 'dragover', 'drop'])
    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
}"""


def drop_file(page: Any, selector: str, name: str, data: bytes, mime: str = "image/png") -> None:
    """Drop a file named ``name`` with content ``data`` on the element ``selector`` (no click, no file chooser)."""
    import base64

    page.evaluate(_DROP_JS, [selector, name, base64.b64encode(data).decode(), mime])


def hand_label_file(page: Any, act: Callable[[], None], name: str, attempts: int = 3, timeout_ms: int = 20_000) -> int:
    """Run ``act`` (a drop on, or a choice for, the label editor of a file called ``name``) until the file reaches
    the server's label-file handler; returns the attempt that did it. The editor replaces its elements while it
    mounts: a file handed to one that is then replaced is silently lost (a busy CI machine showed it), so each
    attempt first waits for the editor's upload input to hold still, then for the queue request that calls the
    handler with ``name`` (the editor's own layer uploads go out either way: they prove nothing).
    Raises AssertionError when no attempt reached the handler."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def calls_handler(request: Any) -> bool:
        return "/gradio_api/queue/join" in request.url and name in (request.post_data or "")

    for attempt in range(1, attempts + 1):
        wait_until_stable(page, "#label-editor input[type=file]")
        try:
            with page.expect_request(calls_handler, timeout=timeout_ms):
                act()
            return attempt
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the label file {name!r} reached no handler in {attempts} attempts of {timeout_ms} ms")


def wait_for_canvas_colour(page: Any, rgb: tuple[int, int, int], min_pixels: int, timeout_s: float = 30) -> int:
    """Poll the label canvas until at least ``min_pixels`` pixels show colour ``rgb`` (within 12 levels): the
    editor has drawn a value the server sent. Returns the count; raises AssertionError on timeout."""
    import time

    import numpy as np

    deadline, n = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        n = int((np.abs(canvas_pixels(page).astype(int) - np.array(rgb)).max(-1) <= 12).sum())
        if n >= min_pixels:
            return n
        page.wait_for_timeout(250)
    raise AssertionError(f"the canvas shows {n} pixels of {rgb} after {timeout_s} s, wanted {min_pixels}")


def wait_until_stable(page: Any, selector: str, quiet_ms: int = 1000, timeout_ms: int = 30_000) -> None:
    """Wait until the element ``selector`` names has stayed the same DOM node for ``quiet_ms`` (Svelte components
    replace their elements while they mount)."""
    page.wait_for_function(
        """([sel, quiet]) => { const e = document.querySelector(sel), now = performance.now();
            if (!e) { window.__stable = null; return false; }
            if (!window.__stable || window.__stable.el !== e) { window.__stable = {el: e, since: now}; return false; }
            return now - window.__stable.since >= quiet; }""",
        arg=[selector, quiet_ms],
        timeout=timeout_ms,
        polling=100,
    )


def close_toasts(page: Any) -> None:
    """Dismiss every toast, so the next one read is new."""
    # clicked again at every poll: under load a click can be lost, or another error's toast arrive meanwhile
    page.wait_for_function(
        """() => { document.querySelectorAll('.toast-close').forEach((b) => b.click());
            return !document.querySelector('.toast-body'); }""",
        timeout=20_000,
        polling=250,
    )


def error_toast(page: Any, timeout_ms: int = 30_000) -> str:
    """Text of the error toast Gradio shows for a gr.Error."""
    toast = page.locator(".toast-body.error, [data-testid='toast-body']").first
    toast.wait_for(timeout=timeout_ms)
    return toast.inner_text()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    p.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with chromium_page(1280, 900) as page:
            open_app(page, args.url)
            print(stylize(page, EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"))
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1500)  # Gradio fades a new output in; a screenshot taken at once looks washed out
            page.screenshot(path=str(args.out / "style_transfer.png"))
            load_preset(page)  # (it opens the paint tab)
            print(live_preview_after_stroke(page, "water", y_frac=0.45))  # a named class, one stroke, live preview
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "paint_to_image.png"))
            editor = page.locator("#label-editor").bounding_box()
            picker = page.locator("#fill-btn").bounding_box()
            out = page.locator("#synthesize-caption").bounding_box()
            x1 = max(editor["x"] + editor["width"], out["x"] + out["width"])
            page.screenshot(
                path=str(args.out / "paint_canvas.png"),  # the canvas, the named picker, the preview
                clip={
                    "x": editor["x"] - 8,
                    "y": editor["y"] - 8,
                    "width": x1 - editor["x"] + 16,
                    "height": picker["y"] + picker["height"] - editor["y"] + 16,
                },
            )
    except Exception as exc:  # playwright timeouts, no browser, app not running
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out / 'style_transfer.png'}, {args.out / 'paint_to_image.png'} and "
        f"{args.out / 'paint_canvas.png'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
