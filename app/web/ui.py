"""Layout of the web app: components and wiring only; the work happens in app.web.handlers / app.services."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from app.config import WEBCAM_SIDE, AppConfig
from app.preprocess import DEFAULT_STABILIZE, STROKE_RANGE
from app.services import Engine
from app.web.busy import install_busy_guard
from app.web.handlers import PRESERVE_CHOICES, STABILIZE_CHOICES, Handlers
from app.web.label_drop import EDITOR_ID, FILE_INPUT_ID, guard_js
from app.web.stroke_entry import stroke_entry_js
from app.web.results import add_to_history, history_gallery, named_output
from models.common.video import VIDEO_SUFFIXES
from models.landscape.classes import class_records

N_PRESETS = 8  # preset layouts offered in the paint tab (procedural landscapes, seeds 0..N-1)
WEBCAM_EVERY_S = 0.2  # the browser sends a webcam frame this often: about what a 256 px frame takes here


def _raw_preprocess(payload: Any) -> str | bytes | None:
    if payload is None:
        return None
    if getattr(payload, "path", None):
        return str(payload.path)
    url = getattr(payload, "url", None) or ""
    if url.startswith("data:") and "," in url:  # webcam/clipboard may send a base64 data URL
        return base64.b64decode(url.split(",", 1)[1])
    return None


def RawImage(**kwargs: Any) -> gr.Image:  # noqa: N802 - reads like the component it builds
    """A ``gr.Image`` whose callback gets the uploaded file's path (or bytes) undecoded.

    Plain ``gr.Image`` decodes with PIL before our code runs, so a corrupt or hostile upload fails with a
    generic error; here ``models.common.imageio.load_image`` decodes it and names the problem. (Overridden on
    the instance: subclassing a Gradio component makes Gradio write a ``.pyi`` stub next to this file.)
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    image.preprocess = _raw_preprocess  # type: ignore[method-assign]
    return image


def guard_preprocess(component: gr.components.Component, what: str) -> gr.components.Component:
    """Make a component's own decoding failure a specific ``gr.Error`` instead of a generic one."""
    original = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return original(payload)
        except gr.Error:
            raise
        except Exception as exc:  # PIL errors on a corrupt upload into the canvas
            raise gr.Error(
                f"{what} image: not a readable image (unknown or corrupt format; {type(exc).__name__}).",
                print_exception=False,
            ) from None

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component


def check_on_drop(h: Handlers, component: gr.components.Component, what: str) -> None:
    """Check an image as soon as it is dropped (or pasted): a bad file gets its message at once, not on Run.

    Through the queue: Gradio's page shows a ``gr.Error`` of a queued event as a toast, while a ``queue=False``
    event's error only reaches the network log (HTTP 500). The check has its own concurrency group, so it never
    waits behind a model run.
    """
    component.upload(h.check_upload(what), component, None, api_visibility="private", concurrency_limit=None)


def _offline_theme() -> gr.themes.Base:
    # The default theme pulls Google Fonts into the browser; system fonts keep the page fully offline.
    return gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "SFMono-Regular", "monospace"]
    )


def _picker_css(classes: list[dict]) -> str:
    """Each option of the class picker gets its colour as a swatch (outlined, so white "snow" shows too)."""
    rules = [
        f'#class-picker label:has(input[value="{c["name"]}"])::before {{background:{c["color"]}}}' for c in classes
    ]
    return "\n".join(rules)


CSS = """
.normlab-hidden {display:none !important}
/* Compare captions (norm, size, seconds) wrap instead of ending in "0.…" */
#stylize-compare .caption-label, #synthesize-compare .caption-label {white-space:normal; overflow:visible;
    text-overflow:clip; max-width:calc(100% - 12px); text-align:right}
#class-picker label::before {content:""; display:inline-block; width:18px; height:18px; border-radius:4px;
                             margin-right:6px; vertical-align:-4px; border:1px solid #0007}
#class-picker input[type=radio] {display:none}
#class-picker label:has(input:checked) {outline:2px solid var(--color-accent); font-weight:600}
""" + _picker_css(class_records())

# The live preview's debounce: each trigger waits 0.6 s; a trigger superseded by a newer one in that time is sent
# with live=False (its last input), which the server answers at once without synthesizing. So a burst of strokes
# costs one synthesis, and no promise is left unresolved.
DEBOUNCE_JS = """(...args) => new Promise((resolve) => {
  const me = (window.__normlabPreview = (window.__normlabPreview || 0) + 1);
  setTimeout(() => { if (me !== window.__normlabPreview) args[args.length - 1] = false; resolve(args); }, 600);
})"""
# A Synthesize click supersedes a preview still waiting out its debounce (a stroke just before the click): its
# smaller picture would otherwise land after the click's. One still running is dropped by the server instead.
SUPERSEDE_PREVIEW_JS = """(...args) => { window.__normlabPreview = (window.__normlabPreview || 0) + 1; return args; }"""


def launch_kwargs(config: AppConfig | None = None) -> dict[str, Any]:
    """Extra ``Blocks.launch`` arguments the app always uses (theme, CSS, upload limit, no SSR node server)."""
    config = config or AppConfig()
    return {
        "theme": _offline_theme(),
        "css": CSS,
        "ssr_mode": False,
        "footer_links": ["api", "settings"],
        "max_file_size": f"{config.upload_limit_mb}mb",
        # page scripts for the paint canvas: dropped label files go through the server (app/web/label_drop.py),
        # strokes begun outside the picture paint its inside part (app/web/stroke_entry.py)
        "head": guard_js() + stroke_entry_js(EDITOR_ID, config.canvas_size),
    }  # images are held to their own limit by the handlers


def _style_examples(config: AppConfig) -> list[tuple[str, str]]:
    """Bundled style images for the clickable galleries: ``(path, caption)``, each once — those listed in
    ``examples/styles.txt`` (``file  caption`` per line), then any other style of the example pairs."""
    seen: dict[str, str] = {}
    index = config.examples_dir / "styles.txt"
    if index.is_file():
        for line in index.read_text(encoding="utf-8").splitlines():
            parts = line.split("#")[0].split(maxsplit=1)
            if parts and (config.examples_dir / parts[0]).is_file():
                caption = parts[1].strip() if len(parts) > 1 else Path(parts[0]).stem.replace("_", " ")
                seen.setdefault(str(config.examples_dir / parts[0]), caption)
    for _, style in _examples(config):
        seen.setdefault(style, Path(style).stem.replace("_", " "))
    return list(seen.items())


def _style_gallery(config: AppConfig, target: gr.Image, elem_id: str) -> gr.Gallery | None:
    """A row of bundled styles; clicking one puts it into ``target``."""
    examples = _style_examples(config)
    if not examples:
        return None
    gallery = gr.Gallery(
        examples,
        label=f"Bundled styles ({len(examples)}): click one to use it",
        columns=min(len(examples), 7),
        rows=(len(examples) + 6) // 7,
        height=110 * ((len(examples) + 6) // 7) + 20,
        allow_preview=False,
        object_fit="cover",
        elem_id=elem_id,
        buttons=[],
        interactive=False,
    )
    paths = [path for path, _ in examples]

    def pick(evt: gr.SelectData) -> str:
        return paths[evt.index]

    gallery.select(pick, None, target, api_visibility="private", queue=False)
    return gallery


def _examples(config: AppConfig) -> list[list[str]]:
    """Content/style pairs listed in ``assets/examples/pairs.txt`` (``content.jpg style.jpg`` per line)."""
    index = config.examples_dir / "pairs.txt"
    if not index.is_file():
        return []
    pairs = []
    for line in index.read_text().splitlines():
        parts = line.split("#")[0].split()
        if len(parts) == 2 and all((config.examples_dir / p).is_file() for p in parts):
            pairs.append([str(config.examples_dir / p) for p in parts])
    return pairs


def _blank_canvas(side: int) -> dict:
    # A transparent background: unpainted pixels stay alpha 0 (-> the "unpainted area" class). Without a
    # value the editor starts on opaque white, which would read as the class "snow".
    blank = np.zeros((side, side, 4), np.uint8)
    return {"background": blank, "layers": [], "composite": blank}


def _no_ckpt_note(kind: str, norms: list[str], assets_dir: Path) -> str:
    if norms:
        return ""
    return (
        f"**No {kind} checkpoint found** in `{assets_dir}` (expected `{kind.lower()}_<norm>.safetensors`). "
        f"The buttons will explain; train one with `python train.py {kind.lower()} ...`."
    )


def build_demo(config: AppConfig | None = None, engine: Engine | None = None) -> gr.Blocks:
    """The whole app as a ``gr.Blocks`` with its queue configured; call ``.launch(**launch_kwargs())``."""
    config = config or AppConfig()
    engine = engine or Engine(config)
    h = Handlers(engine, config)

    def menu(kind: str) -> Choices:
        return engine.caches[kind].choices(config.min_checkpoint_steps)

    with gr.Blocks(
        title="normlab — normalization-driven image generation",
        analytics_enabled=False,
        delete_cache=config.delete_cache,
    ) as demo:
        gr.Markdown(
            "# normlab\nStyle transfer (AdaIN) and paint-to-image (SPADE), each trained with different "
            "normalization layers. Pick a normalizer, or compare them all side by side."
        )
        with gr.Tabs():
            with gr.Tab("Style transfer", id="style"):
                adain_note, adain_norm, adain_reload = _style_tab(h, config, menu("adain"))
            with gr.Tab("Paint to image", id="paint"):
                spade_note, spade_norm, then_norm, spade_reload = _paint_tab(h, config, menu("spade"), menu("adain"))
            with gr.Tab("Video", id="video"):
                video_note, video_norm, video_reload = _video_tab(h, config, menu("adain"))
            with gr.Tab("Batch", id="batch"):
                batch_norm = _batch_tab(h, config, menu("adain"))
            with gr.Tab("API", id="api"):
                api_text = _api_tab(h, config)

        def refresh(
            adain_now: str | None,
            then_now: str | None,
            spade_now: str | None,
            video_now: str | None,
            batch_now: str | None,
        ) -> tuple:
            # Checkpoints can appear while the server runs (training finishes): offered on page load and by the
            # reload buttons. A selection that still exists is kept.
            a, s = menu("adain"), menu("spade")

            def pick(entries: Choices, now: str | None) -> gr.Dropdown:
                names = [name for _, name in entries]
                return gr.Dropdown(choices=entries, value=now if now in names else (names[0] if names else None))

            a_note = _no_ckpt_note("AdaIN", a, config.assets_dir)
            return (
                pick(a, adain_now),
                pick(a, then_now),
                pick(s, spade_now),
                pick(a, video_now),
                pick(a, batch_now),
                a_note,
                _no_ckpt_note("SPADE", s, config.assets_dir),
                a_note,
            )

        dropdowns = [adain_norm, then_norm, spade_norm, video_norm, batch_norm]
        outputs = dropdowns + [adain_note, spade_note, video_note]
        demo.load(refresh, dropdowns, outputs, api_visibility="private", queue=False)
        demo.load(api_help, None, api_text, api_visibility="private", queue=False)  # this server's own address
        for button in (adain_reload, spade_reload, video_reload):  # a checkpoint trained while the page is open
            button.click(refresh, dropdowns, outputs, api_visibility="private", queue=False)

    demo.queue(default_concurrency_limit=config.concurrency, max_size=config.max_queue)
    install_busy_guard(demo._queue, config.concurrency)  # a full queue says when to retry (app/web/busy.py)
    return demo


def _spade_size(config: AppConfig) -> int:
    # default SPADE output (512 is offered too): a crop generator renders natively at 256-512 px, a grid one at its
    # training size, resized to this
    return 256 if config.min_size <= 256 <= config.max_size else config.default_size


Choices = list[tuple[str, str]]  # (menu label with the card's facts, checkpoint name)


def _norm_dropdown(norms: Choices, label: str, elem_id: str | None = None) -> gr.Dropdown:
    return gr.Dropdown(
        norms,
        value=norms[0][1] if norms else None,
        label=label,
        elem_id=elem_id,
        info="Normalization layer the checkpoint was trained with, its training steps and how many "
        "of its held-out targets it meets (my-…: trained by you).",
    )


def _norm_picker(h: Handlers, kind: str, norms: Choices, label: str, elem_id: str) -> tuple[gr.Dropdown, gr.Button]:
    """The normalizer dropdown with a button that re-reads the checkpoint folder (new files from train.py) and the
    selected checkpoint's model card in an accordion."""
    # stacked, not side by side: in the paint tab's narrow middle column a button beside the dropdown squeezed it
    # until its label wrapped over three lines and the checkpoint's name was cut (docs/screenshots)
    dropdown = _norm_dropdown(norms, label, elem_id)
    reload = gr.Button("↻ Reload checkpoints", size="sm", elem_id=f"{elem_id}-reload")
    cache = h.engine.caches[kind]
    with gr.Accordion("Model card", open=False, elem_id=f"{elem_id}-card-box"):
        card = gr.Markdown(cache.card(norms[0][1] if norms else None), elem_id=f"{elem_id}-card")
    dropdown.change(cache.card, dropdown, card, api_visibility="private", queue=False)
    return dropdown, reload


def _style_tab(h: Handlers, config: AppConfig, adain_norms: Choices) -> tuple[gr.Markdown, gr.Dropdown, gr.Button]:
    note = gr.Markdown(_no_ckpt_note("AdaIN", adain_norms, config.assets_dir))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row():
                content = RawImage(
                    label="Content", sources=["upload", "webcam", "clipboard"], elem_id="content-input", height=280
                )
                with gr.Column(min_width=200):
                    style1 = RawImage(label="Style", sources=["upload", "clipboard"], elem_id="style-input", height=280)
            _style_gallery(config, style1, "style-gallery")
            styles = [style1]
            with gr.Accordion("Blend more styles (interpolation)", open=False):
                gr.Markdown("Each extra style is mixed in by its weight; weights are normalised to sum to 1.")
                weights = [gr.Slider(0, 1, value=1.0, step=0.05, label="Weight of the main style")]
                with gr.Row():
                    for i in range(2, 5):
                        with gr.Column(min_width=150):
                            styles.append(
                                RawImage(
                                    label=f"Style {i}",
                                    sources=["upload", "clipboard"],
                                    height=150,
                                    elem_id=f"style{i}-input",
                                )
                            )
                            weights.append(gr.Slider(0, 1, value=0.5, step=0.05, label=f"Weight {i}"))
            with gr.Accordion("Spatial control: a second style for part of the image", open=False):
                gr.Markdown(
                    "Choose the brush and paint over the content where the **main style** goes; the "
                    "unpainted area gets the style on the right. Clear the canvas to switch this off."
                )
                with gr.Row():
                    mask_editor = guard_preprocess(
                        gr.ImageEditor(
                            label="Area for the main style",
                            type="numpy",
                            sources=[],
                            brush=gr.Brush(colors=["#ff3c3c"], color_mode="fixed", default_size=24),
                            layers=False,
                            transforms=(),
                            canvas_size=(512, 512),
                            height=340,
                            elem_id="mask-editor",
                        ),
                        "Spatial-control canvas",
                    )
                    region_style = RawImage(
                        label="Style for the unpainted area",
                        sources=["upload", "clipboard"],
                        height=300,
                        elem_id="region-style-input",
                    )
            with gr.Row():
                alpha = gr.Slider(
                    0,
                    1,
                    value=1.0,
                    step=0.05,
                    label="Style strength α",
                    info="0 keeps the content, 1 applies the full style.",
                )
                preserve = gr.Radio(PRESERVE_CHOICES, value="none", label="Colours")
            with gr.Row():
                size = gr.Dropdown(
                    config.style_size_choices,
                    value=config.default_size,
                    label="Output size (long side, px)",
                    elem_id="stylize-size",
                    info=f"At most {config.max_size} px and {config.max_input_megapixels:g} MP here; "
                    "'original size' keeps the content's size. Large images are stylized tile "
                    "by tile.",
                )
                stroke = gr.Slider(
                    *STROKE_RANGE,
                    value=1.0,
                    step=0.25,
                    label="Stroke size",
                    elem_id="stroke-size",
                    info="scale of the style's brush strokes and patterns; 1 = style encoded at the "
                    "output size up to 1024 px, larger = bigger strokes",
                )
            norm, reload = _norm_picker(h, "adain", adain_norms, "Normalizer (AdaIN checkpoint)", "adain-norm")
            with gr.Row():
                stylize_btn = gr.Button("Stylize", variant="primary", elem_id="stylize-btn")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="stylize-cancel", min_width=80)
                compare_btn = gr.Button("Compare normalizers", elem_id="stylize-compare-btn")
        with gr.Column(scale=2):
            out_img = named_output(
                gr.Image(
                    label="Result (PNG)",
                    format="png",
                    type="pil",
                    interactive=False,
                    height=420,
                    buttons=["download", "fullscreen"],
                    elem_id="stylize-output",
                )
            )
            out_caption = gr.Markdown(elem_id="stylize-caption")
    gallery = gr.Gallery(
        label="Compare normalizers: same input, every AdaIN checkpoint",
        format="png",
        columns=3,
        height="auto",
        object_fit="contain",
        elem_id="stylize-compare",
        buttons=["download", "fullscreen"],
    )
    gallery_caption = gr.Markdown(elem_id="stylize-compare-caption")
    history, history_state = history_gallery("stylize-history"), gr.State([])
    examples = _examples(config)
    if examples:
        gr.Examples(
            examples, inputs=[content, style1], label="Example pairs (licences: assets/README.md)", examples_per_page=8
        )

    inputs = [content]
    for s, w in zip(styles, weights):
        inputs += [s, w]
    inputs += [alpha, preserve, mask_editor, region_style, size, stroke]
    run = stylize_btn.click(
        h.stylize_ui, inputs + [norm], [out_img, out_caption], api_visibility="undocumented", concurrency_id="models"
    )
    run.success(
        add_to_history,
        [out_img, out_caption, history_state],
        [history, history_state],
        queue=False,
        api_visibility="private",
    )
    compared = compare_btn.click(
        h.compare_stylize_ui, inputs, [gallery, gallery_caption], api_visibility="undocumented", concurrency_id="models"
    )
    cancel_btn.click(None, None, None, cancels=[run, compared], api_visibility="private", queue=False)
    content.change(h.mask_canvas, content, mask_editor, api_visibility="private", queue=False)
    for component, what in [
        (content, "content"),
        (region_style, "unpainted-area style"),
        *((s, "style" if i == 0 else f"style {i + 1}") for i, s in enumerate(styles)),
    ]:
        check_on_drop(h, component, what)
    return note, norm, reload


def _paint_tab(
    h: Handlers, config: AppConfig, spade_norms: Choices, adain_norms: Choices
) -> tuple[gr.Markdown, gr.Dropdown, gr.Dropdown, gr.Button]:
    classes = h.api_classes()
    names = [c["name"] for c in classes]
    first = classes[0]["color"]
    sizes = config.spade_size_choices
    note = gr.Markdown(_no_ckpt_note("SPADE", spade_norms, config.assets_dir))
    gr.Markdown(
        "Pick a **class** below the canvas, choose the **brush** in the canvas toolbar and paint a layout "
        "(or load a preset). Transparent pixels become the *unpainted area* class. With *Live preview* "
        "on, the picture follows your strokes."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            editor = guard_preprocess(
                gr.ImageEditor(
                    label="Label map",
                    type="numpy",
                    sources=["upload", "clipboard"],
                    image_mode="RGBA",
                    # one fixed colour at a time (set by the class picker): no palette pops up over the canvas
                    brush=gr.Brush(colors=[first], default_color=first, color_mode="fixed", default_size=28),
                    layers=False,
                    transforms=(),
                    fixed_canvas=True,
                    value=_blank_canvas(config.canvas_size),
                    canvas_size=(config.canvas_size, config.canvas_size),
                    height=520,
                    elem_id=EDITOR_ID,
                ),
                "Label map",
            )
            picker = gr.Radio(
                [(n, n) for n in names],
                value=names[0],
                label="Brush class",
                info="The colour each class is painted with; white is snow.",
                elem_id="class-picker",
            )
            fill_btn = gr.Button("Fill the unpainted area with this class", size="sm", elem_id="fill-btn")
        with gr.Column(scale=3, min_width=260):
            with gr.Row():
                preset = gr.Dropdown(
                    [(f"Landscape {i + 1}", i) for i in range(N_PRESETS)],
                    value=0,
                    label="Preset layout",
                    scale=3,
                    min_width=120,
                )
                preset_btn = gr.Button("Load preset", scale=1, min_width=90, elem_id="preset-btn")
            fill = gr.Dropdown(
                [("the nearest painted class", "none")] + [(n, n) for n in names],
                value="sky" if "sky" in names else names[0],
                label="Unpainted area becomes",
            )
            with gr.Row():
                seed = gr.Number(0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed", min_width=100)
                dice = gr.Button("🎲 Surprise me", scale=0, min_width=90, elem_id="surprise-btn")
            spade_size = gr.Dropdown(sizes, value=_spade_size(config), label="Output size (long side, px)")
            norm, reload = _norm_picker(h, "spade", spade_norms, "Normalizer (SPADE checkpoint)", "spade-norm")
            live = gr.Checkbox(
                True, label="Live preview (up to 256 px, shortly after each stroke or new seed)", elem_id="live-preview"
            )
            style = RawImage(
                label="Style (optional)", sources=["upload", "clipboard"], height=140, elem_id="spade-style-input"
            )
            _style_gallery(config, style, "spade-style-gallery")
            with gr.Accordion("Then stylize with AdaIN (optional)", open=False):
                then_style = RawImage(
                    label="Style image for AdaIN",
                    sources=["upload", "clipboard"],
                    height=140,
                    elem_id="then-style-input",
                )
                then_norm = _norm_dropdown(adain_norms, "AdaIN normalizer")
                then_alpha = gr.Slider(0, 1, value=0.8, step=0.05, label="AdaIN style strength α")
            with gr.Row():
                synth_btn = gr.Button("Synthesize", variant="primary", elem_id="synthesize-btn")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="synthesize-cancel", min_width=80)
            compare_btn = gr.Button("Compare normalizers", elem_id="synthesize-compare-btn")
        with gr.Column(scale=4):
            out_img = named_output(
                gr.Image(
                    label="Result (PNG)",
                    format="png",
                    type="pil",
                    interactive=False,
                    height=420,
                    buttons=["download", "fullscreen"],
                    elem_id="synthesize-output",
                )
            )
            out_caption = gr.Markdown(elem_id="synthesize-caption")
    gallery = gr.Gallery(
        label="Compare normalizers: same layout and seed, every SPADE checkpoint",
        format="png",
        columns=3,
        height="auto",
        object_fit="contain",
        elem_id="synthesize-compare",
        buttons=["download", "fullscreen"],
    )
    gallery_caption = gr.Markdown(elem_id="synthesize-compare-caption")
    history, history_state = history_gallery("synthesize-history"), gr.State([])

    # no progress overlay: it covered the canvas (white, 1-6 s) while the brush colour came back
    picker.change(h.brush, picker, editor, api_visibility="private", queue=False, show_progress="hidden")
    fill_btn.click(h.fill_unpainted, [editor, picker], editor, api_visibility="private")
    preset_btn.click(h.preset, preset, editor, api_visibility="private")
    dice.click(lambda: random.randrange(2**31 - 1), None, seed, api_visibility="private", queue=False)
    inputs = [editor, fill, seed, style, spade_size]
    # Gradio 6's ImageEditor reports a stroke through `input`/`apply`, not `change` (seen in the browser test);
    # listening to all three costs nothing, the debounce folds them into one call.
    gr.on(
        [editor.change, editor.input, editor.apply, seed.change, norm.change, fill.change, style.change],
        h.preview_ui,
        inputs + [norm, live],
        [out_img, out_caption],
        js=DEBOUNCE_JS,
        trigger_mode="always_last",
        concurrency_id="preview",
        concurrency_limit=1,
        show_progress="minimal",
        api_visibility="private",
    )
    run = synth_btn.click(
        h.synthesize_ui,
        inputs + [norm, then_style, then_norm, then_alpha],
        [out_img, out_caption],
        js=SUPERSEDE_PREVIEW_JS,
        api_visibility="undocumented",
        concurrency_id="models",
    )
    run.success(
        add_to_history,
        [out_img, out_caption, history_state],
        [history, history_state],
        queue=False,
        api_visibility="private",
    )
    compared = compare_btn.click(
        h.compare_synthesize_ui,
        inputs,
        [gallery, gallery_caption],
        api_visibility="undocumented",
        concurrency_id="models",
    )
    cancel_btn.click(None, None, None, cancels=[run, compared], api_visibility="private", queue=False)
    # a pasted picture (the only upload the page script leaves to the editor) is decoded now: errors show at once
    editor.upload(lambda value: None, editor, None, api_visibility="private", queue=False)
    # a label file dropped on the canvas comes through this hidden input (app/web/label_drop.py)
    label_file = gr.File(
        type="filepath", file_types=["image"], elem_id=FILE_INPUT_ID, elem_classes=["normlab-hidden"], label="Labels"
    )
    label_file.upload(
        h.label_file, label_file, [editor, label_file], api_visibility="private", concurrency_limit=None
    ).failure(lambda: None, None, label_file, api_visibility="private", queue=False)  # empty again for the next file
    for component, what in [(style, "style"), (then_style, "'then stylize with' style")]:
        check_on_drop(h, component, what)
    return note, norm, then_norm, reload


def _batch_tab(h: Handlers, config: AppConfig, adain_norms: Choices) -> gr.Dropdown:
    """Several content images x one style, a ZIP of named PNGs (each with its settings) to download."""
    gr.Markdown(
        f"Drop up to {config.max_batch_files} content images and pick one style: every image is stylized with the "
        "same settings, and the ZIP holds one PNG per image, named after it (with its settings inside)."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            files = gr.File(label="Content images", file_count="multiple", file_types=["image"], elem_id="batch-files")
            style = RawImage(label="Style", sources=["upload", "clipboard"], elem_id="batch-style", height=200)
            _style_gallery(config, style, "batch-style-gallery")
            alpha = gr.Slider(0, 1, value=1.0, step=0.05, label="Style strength α", elem_id="batch-alpha")
            size = gr.Dropdown(
                config.size_choices,
                value=config.default_size,
                label="Output size (long side, px)",
                elem_id="batch-size",
            )
            norm = _norm_dropdown(adain_norms, "Normalizer (AdaIN checkpoint)", "batch-norm")
            with gr.Row():
                run_btn = gr.Button("Stylize all", variant="primary", elem_id="batch-btn")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="batch-cancel", min_width=80)
        with gr.Column(scale=4):
            zip_out = gr.File(label="Results (ZIP of PNGs)", interactive=False, elem_id="batch-zip")
            caption = gr.Markdown(elem_id="batch-caption")
            gallery = gr.Gallery(
                label="Results",
                format="png",
                columns=4,
                height="auto",
                object_fit="contain",
                elem_id="batch-gallery",
                buttons=["download", "fullscreen"],
            )
    run = run_btn.click(
        h.batch_ui,
        [files, style, alpha, size, norm],
        [gallery, zip_out, caption],
        api_visibility="private",
        concurrency_id="models",
    )
    cancel_btn.click(None, None, None, cancels=[run], api_visibility="private", queue=False)
    check_on_drop(h, style, "style")
    files.upload(h.check_batch_files, files, None, api_visibility="private", concurrency_limit=None)
    return norm


def _video_tab(h: Handlers, config: AppConfig, adain_norms: Choices) -> tuple[gr.Markdown, gr.Dropdown, gr.Button]:
    """A clip stylized frame by frame (stabilized against flicker), and the webcam stylized live with the same
    styles and settings."""
    note = gr.Markdown(_no_ckpt_note("AdaIN", adain_norms, config.assets_dir))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row():
                clip = gr.File(
                    label="Video clip",
                    file_types=list(VIDEO_SUFFIXES),
                    type="filepath",
                    elem_id="video-input",
                    height=200,
                )
                with gr.Column(min_width=200):
                    style1 = RawImage(
                        label="Style", sources=["upload", "clipboard"], elem_id="video-style-input", height=200
                    )
            _style_gallery(config, style1, "video-style-gallery")
            styles = [style1]
            with gr.Accordion("Blend more styles (interpolation)", open=False):
                weights = [gr.Slider(0, 1, value=1.0, step=0.05, label="Weight of the main style")]
                with gr.Row():
                    for i in range(2, 5):
                        with gr.Column(min_width=150):
                            styles.append(
                                RawImage(
                                    label=f"Style {i}",
                                    sources=["upload", "clipboard"],
                                    height=150,
                                    elem_id=f"video-style{i}-input",
                                )
                            )
                            weights.append(gr.Slider(0, 1, value=0.5, step=0.05, label=f"Weight {i}"))
            with gr.Row():
                size = gr.Dropdown(
                    config.video_size_choices,
                    value=config.video_size,
                    label="Output size (long side, px)",
                    elem_id="video-size",
                    info=f"Up to {config.video_size_limit} px here; a 640 px frame takes about 1 s on a small CPU.",
                )
                stabilize = gr.Radio(
                    STABILIZE_CHOICES,
                    value=DEFAULT_STABILIZE,
                    elem_id="video-stabilize",
                    label="Stabilization (against flicker)",
                )
            with gr.Row():
                alpha = gr.Slider(0, 1, value=1.0, step=0.05, label="Style strength α")
                stroke = gr.Slider(*STROKE_RANGE, value=1.0, step=0.25, label="Stroke size", elem_id="video-stroke")
                preserve = gr.Radio(PRESERVE_CHOICES, value="none", label="Colours")
            norm, reload = _norm_picker(h, "adain", adain_norms, "Normalizer (AdaIN checkpoint)", "video-norm")
            gr.Markdown(
                f"Clips up to {config.max_video_seconds:g} s, {config.max_video_frames} frames, "
                f"{config.max_video_side} px on the long side and {config.max_video_mb:g} MB "
                "(mp4, webm, mov, mkv, avi, gif). The result is an H.264 MP4 with the clip's timing and "
                "audio."
            )
            with gr.Row():
                run_btn = gr.Button("Stylize video", variant="primary", elem_id="video-btn")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="video-cancel", min_width=80)
        with gr.Column(scale=2):
            out_video = gr.Video(
                label="Result (MP4)",
                format="mp4",
                interactive=False,
                height=360,
                buttons=["download"],
                elem_id="video-output",
            )
            out_caption = gr.Markdown(elem_id="video-caption")
    with gr.Accordion(
        f"Webcam: live style transfer (up to {WEBCAM_SIDE} px, same style and settings)",
        open=False,
        elem_id="webcam-accordion",
    ):
        with gr.Row():
            cam = gr.Image(
                label="Webcam",
                sources=["webcam"],
                streaming=True,
                type="numpy",
                image_mode="RGB",
                elem_id="webcam-input",
                height=300,
            )
            cam_out = gr.Image(
                label="Stylized",
                type="numpy",
                format="jpeg",
                interactive=False,
                height=300,
                buttons=["download", "fullscreen"],
                elem_id="webcam-output",
            )
        cam_caption = gr.Markdown(elem_id="webcam-caption")
    session = gr.State(None)  # per browser session: the stream's VideoStylizer (statistics, previous frame)

    style_inputs = []
    for s, w in zip(styles, weights):
        style_inputs += [s, w]
    run = run_btn.click(
        h.stylize_video_ui,
        [clip, *style_inputs, alpha, preserve, size, stroke, stabilize, norm],
        [out_video, out_caption],
        api_visibility="undocumented",
        concurrency_id="models",
    )
    cancel_btn.click(None, None, None, cancels=[run], api_visibility="private", queue=False)
    # A stream holds its worker for its whole run: webcams get their own group, and each stream ends after
    # webcam_seconds (the user restarts it), so a forgotten tab does not hold a worker for ever.
    cam.stream(
        h.webcam_ui,
        [cam, session, *style_inputs, alpha, preserve, stroke, stabilize, norm],
        [cam_out, session, cam_caption],
        stream_every=WEBCAM_EVERY_S,
        time_limit=config.webcam_seconds,
        concurrency_id="webcam",
        concurrency_limit=config.concurrency,
        api_visibility="private",
    )
    for component, what in [(s, "style" if i == 0 else f"style {i + 1}") for i, s in enumerate(styles)]:
        check_on_drop(h, component, what)
    return note, norm, reload


def api_help(request: gr.Request | None = None) -> str:
    """The API tab's text with this server's own address (from the request's Host header), not a fixed port."""
    url = "http://127.0.0.1:7860/"
    if request is not None:
        headers = getattr(request, "headers", None) or {}
        host = headers.get("x-forwarded-host") or headers.get("host")
        if host:
            scheme = headers.get("x-forwarded-proto") or "http"
            url = f"{scheme}://{host}/"
    return API_HELP.replace("{url}", url)


def _api_tab(h: Handlers, config: AppConfig) -> gr.Markdown:
    """How to call the app from a program, plus the hidden components behind ``/stylize`` and ``/synthesize``."""
    help_text = gr.Markdown(api_help(), elem_id="api-help")
    # Hidden components give the endpoints real file handling (gradio_client's handle_file) and defaults;
    # the handler signatures give the parameter names.
    with gr.Group(visible=False):
        a_in = [
            gr.File(type="filepath"),
            gr.File(type="filepath"),
            gr.Number(1.0),
            gr.Textbox(""),
            gr.Number(config.default_size),
            gr.Textbox("none"),
            gr.Number(1.0),
        ]
        s_in = [
            gr.File(type="filepath"),
            gr.Number(0),
            gr.Textbox(""),
            gr.Number(_spade_size(config)),
            gr.File(type="filepath"),
            gr.Textbox(""),
        ]
        v_in = [
            gr.File(type="filepath"),
            gr.File(type="filepath"),
            gr.Number(1.0),
            gr.Textbox(""),
            gr.Number(config.video_size),
            gr.Textbox("none"),
            gr.Number(1.0),
            gr.Textbox(DEFAULT_STABILIZE),
        ]
        a_out, s_out, c_out = gr.Image(format="png", type="pil"), gr.Image(format="png", type="pil"), gr.JSON()
        v_out = gr.Video(format="mp4")
        a_btn, s_btn, c_btn, v_btn = gr.Button(), gr.Button(), gr.Button(), gr.Button()
    a_btn.click(h.api_stylize, a_in, a_out, api_name="stylize", concurrency_id="models")
    v_btn.click(h.api_stylize_video, v_in, v_out, api_name="stylize_video", concurrency_id="models")
    s_btn.click(h.api_synthesize, s_in, s_out, api_name="synthesize", concurrency_id="models")
    c_btn.click(h.api_classes, None, c_out, api_name="classes", queue=False)
    return help_text


API_HELP = """
### Call the app from a program

```python
from gradio_client import Client, handle_file

client = Client("{url}")
png = client.predict(content=handle_file("photo.jpg"), style=handle_file("painting.jpg"),
                     alpha=0.8, api_name="/stylize")            # optional: norm, size, preserve_color, stroke
png = client.predict(mask=handle_file("labels.png"), seed=0,
                     api_name="/synthesize")                    # optional: norm, size, style, fill
classes = client.predict(api_name="/classes")                   # [{"id", "name", "color"}, ...]
mp4 = client.submit(video=handle_file("clip.mp4"), style=handle_file("painting.jpg"), size=480,
                    api_name="/stylize_video").result(timeout=3600)  # optional: alpha, norm, preserve_color,
                                                                     # stroke, stabilize
```

`/stylize` takes `size=0` for the content's own size and `stroke` (0.25-4, default 1) for the size of the
style's brush strokes.

`/stylize_video` takes a clip (mp4, webm, mov, mkv, avi, gif) and returns the path of an H.264 MP4 with the clip's
frame timing and audio; `stabilize` is `flow` (default), `stats`, `both` or `none`. A clip takes about a second per
640 px frame on a small CPU: use `submit(...).result(timeout=...)` rather than a bare `predict`.

`/stylize` and `/synthesize` return the path of a PNG file. `mask` is colour-coded with the class colours of the
*Paint to image* tab (transparent pixels are unpainted; a single-channel image of class ids works too).
Bad inputs raise `gradio_client.exceptions.AppError` with a message saying what is wrong.
The full parameter list is under **Use via API** at the bottom of the page.
"""
