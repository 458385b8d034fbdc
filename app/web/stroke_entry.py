"""Brush strokes that start outside the picture on the paint canvas still paint the part inside.

Gradio's ImageEditor starts a stroke only on a ``pointerdown`` over the picture, so a sweep that begins in the
grey margin around it (where a quick hand often starts, aiming at the edge) paints nothing at all. This page
script (added to ``launch(head=...)``) watches a pressed pointer that went down outside the picture with the
brush or the eraser selected, and when it crosses into the picture, sends the editor the ``pointerdown`` it
missed, at that point: the stroke begins where the pointer entered, as if it had been pressed there.

Where the picture is: the editor centres it in its canvas element (pixi's screen, no bottom padding here) at the
zoom its toolbar shows; panning only applies once the picture is zoomed larger than the canvas, and then there is
no margin to start in, so the script steps aside.
"""

from __future__ import annotations

__all__ = ["stroke_entry_js"]

_JS = """<script>
(() => {
  const BOX = '#%(editor)s', SIDE = %(side)d, BORDER = 30;
  let pending = null;  // {canvas, pointerId} while a press that began outside the picture is held
  const tool_on = (box) =>
    ['Brush', 'Erase'].some((t) => box.querySelector(`button[aria-label=${t}]`)?.classList.contains('highlight'));
  const picture = (canvas, box) => {  // the picture's rectangle in client coordinates, or null when zoomed in
    const zoom = parseFloat(box.querySelector('.zoom-number span')?.textContent || '') / 100;
    const r = canvas.getBoundingClientRect(), side = SIDE * zoom;
    if (!(zoom > 0) || side > r.width - 2 * BORDER || side > r.height - 2 * BORDER) return null;
    const left = r.left + (r.width - side) / 2, top = r.top + (r.height - side) / 2;
    return {left, top, right: left + side, bottom: top + side};
  };
  const inside = (p, ev) =>
    ev.clientX >= p.left && ev.clientX <= p.right && ev.clientY >= p.top && ev.clientY <= p.bottom;
  document.addEventListener('pointerdown', (ev) => {
    pending = null;
    const canvas = ev.target instanceof HTMLCanvasElement ? ev.target : null, box = canvas?.closest(BOX);
    if (!box || ev.button !== 0 || ev.normlabEntry || !tool_on(box)) return;
    const p = picture(canvas, box);
    if (p && !inside(p, ev)) pending = {canvas, box, pointerId: ev.pointerId};
  }, true);
  document.addEventListener('pointermove', (ev) => {
    if (!pending || ev.pointerId !== pending.pointerId) return;
    if (!(ev.buttons & 1)) { pending = null; return; }
    const p = picture(pending.canvas, pending.box);
    if (!p || !inside(p, ev)) return;
    const init = {bubbles: true, cancelable: true, clientX: ev.clientX, clientY: ev.clientY, screenX: ev.screenX,
                  screenY: ev.screenY, pointerId: ev.pointerId, pointerType: ev.pointerType, isPrimary: true,
                  button: 0, buttons: 1, pressure: 0.5};
    const down = new PointerEvent('pointerdown', init);
    down.normlabEntry = true;
    const canvas = pending.canvas;
    pending = null;
    // after this move has reached the editor (its brush cursor must be over the picture first), start the stroke
    setTimeout(() => canvas.dispatchEvent(down), 0);
  }, true);
  document.addEventListener('pointerup', () => { pending = null; }, true);
})();
</script>"""


def stroke_entry_js(editor_id: str, canvas_side: int) -> str:
    """The page script for the canvas ``#editor_id`` whose picture is ``canvas_side`` pixels square."""
    return _JS % {"editor": editor_id, "side": canvas_side}
