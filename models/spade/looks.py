"""Seeds that pick one of the renderer's looks: the style code of a render of *your* layout.

The landscape renderer gives every seed a global look — time of day (day, sunset, overcast), sky, rock, grass,
sand and water palettes, the side the light comes from — and textures any label map with it
(:func:`models.landscape.render.render_layout`). Drawing a seed's style code from a Gaussian fitted to the
encoder's codes of many pictures (:mod:`models.spade.prior`) mixes two things a code carries: the look *and* the
layout of the picture it came from, and a Gaussian blurs the look's discrete modes (a sunset is not halfway to an
overcast sky). Here a seed instead renders the user's own layout at the encoder's thumbnail size with that seed's
look and reads its code with the style encoder: the latent is tied to the renderer's global factors, so the
spread of looks over seeds is the renderer's own spread (measured in docs/spade.md: the spread distance to
renders of the same layout falls to about a third of the fitted prior's).

Exported files choose it with ``GenConfig.seed_looks = "renderer"`` (``python -m models.spade.looks FILE``);
it needs a style encoder and the landscape classes the renderer paints.

Example:
    >>> import torch
    >>> from models.spade.generator import GenConfig, build_generator
    >>> G = build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, enc_size=32)).eval()
    >>> ids = torch.zeros(40, 24, dtype=torch.long); ids[20:] = 7  # sky over grass, any shape
    >>> code = look_code(G, ids, torch.Generator().manual_seed(3))
    >>> code.shape
    torch.Size([1, 8])
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from models.landscape.classes import CLASSES

__all__ = [
    "SEED_LOOKS",
    "class_means",
    "look_code",
    "look_render",
    "look_thumbnail",
    "match_look",
    "renderer_knows",
    "main",
]

FIELD_SIDE = 512  # match_look builds its colour shifts at most this large, then enlarges them
SEED_LOOKS = ("prior", "renderer")  # GenConfig.seed_looks: fitted Gaussian (or N(0, I)) / the renderer's looks
IGNORE = 255


def renderer_knows(classes: list[dict]) -> bool:
    """Whether a generator's ``classes`` ([{id, name, ...}]) are the landscape classes the renderer paints."""
    return [(c["id"], c["name"]) for c in classes] == [(c.id, c.name) for c in CLASSES]


def look_thumbnail(ids: torch.Tensor, size: int) -> torch.Tensor:
    """``ids (H, W)`` class ids -> ``(1, size, size)`` square thumbnail (nearest), ``255`` (don't care) filled with
    the most frequent painted class (sky when nothing is painted) so the renderer colours every pixel."""
    if ids.dim() != 2:
        raise ValueError(f"expected an (H, W) label map, got shape {tuple(ids.shape)}")
    small = F.interpolate(ids[None, None].float(), size=(size, size), mode="nearest")[0].long()
    valid = small[small != IGNORE]
    fill = int(torch.bincount(valid).argmax()) if valid.numel() else 0
    return torch.where(small == IGNORE, fill, small)


@torch.no_grad()
def look_render(
    generator: torch.nn.Module, ids: torch.Tensor, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layout ``ids (H, W)`` rendered at the encoder's thumbnail size ``s`` with a look drawn from ``rng``:
    ``(picture (1, 3, s, s) in [0, 1] on the generator's device, its label map (s, s))``.

    One number is drawn from ``rng`` (the render's seed), so a seed gives one look on every layout, and what the
    caller draws from ``rng`` afterwards (the noise inputs) is the same for every layout too.
    """
    from models.landscape.render import render_layout

    seed = int(torch.randint(0, 2**48, (1,), generator=rng))
    size = max(16, int(generator.cfg.enc_size if generator.cfg.arch == "crop" else generator.cfg.size))
    dev = next(generator.parameters()).device
    small = look_thumbnail(ids.cpu(), size)
    return render_layout(small, [seed]).to(dev), small[0]


@torch.no_grad()
def encode_look(generator: torch.nn.Module, picture: torch.Tensor) -> torch.Tensor:
    """The style encoder's mean code ``(1, z_dim)`` of a render ``picture (1, 3, s, s)`` in [0, 1]."""
    mu, _ = generator.encode(picture * 2 - 1)
    return mu.float()


def look_code(generator: torch.nn.Module, ids: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """The style code ``(1, z_dim)`` of the layout ``ids (H, W)`` rendered with a look drawn from ``rng``
    (:func:`look_render`)."""
    return encode_look(generator, look_render(generator, ids, rng)[0])


def class_means(images: torch.Tensor, ids: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean colour of each class region: ``images (B, 3, H, W)``, ``ids (H, W)`` -> ``(means (B, K, 3), present
    (K,) bool)``; ids outside ``0..K-1`` (don't care) count for no class."""
    one = F.one_hot(torch.where(ids < num_classes, ids, num_classes).long(), num_classes + 1)[..., :num_classes]
    one = one.to(images.dtype).flatten(0, 1)  # (H*W, K)
    n = one.sum(0)
    sums = images.flatten(2) @ one  # (B, 3, K)
    return (sums / n.clamp(min=1)).transpose(1, 2), n > 0


def _blur(x: torch.Tensor, r: int) -> torch.Tensor:
    """Two box blurs of radius ``r`` (~ a Gaussian of sigma ``sqrt(2r(r + 1) / 3)``: 2 px at ``r = 2``), edges
    replicated: ``(N, C, H, W)``."""
    for _ in range(2):
        x = F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)
    return x


def _class_lowpass(x: torch.Tensor, ids: torch.Tensor, num_classes: int, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each class's colour blurred *within* its region (a normalised blur): ``x (1, 3, s, s)``, ``ids (s, s)`` ->
    ``(colours (K, 3, s, s), weights (K, 1, s, s))``; a weight near 0 means the class is far from that place."""
    m = F.one_hot(torch.where(ids < num_classes, ids, num_classes).long(), num_classes + 1)[..., :num_classes]
    m = m.permute(2, 0, 1)[:, None].to(x.dtype)  # (K, 1, s, s)
    w = _blur(m, r)
    return _blur(x * m, r) / w.clamp(min=1e-6), w


def match_look(
    out: torch.Tensor,
    ids: torch.Tensor,
    ref: torch.Tensor,
    ref_ids: torch.Tensor,
    num_classes: int,
    strength: float = 1.0,
    radius: int = 2,
) -> torch.Tensor:
    """Move each class region's low frequencies of a generated picture onto the seed's render of the layout.

    The generator paints the renderer's looks paler than the renderer (a sunset comes out half as red, the light's
    side barely shows): the texture and the shapes are the generator's, the colour of each region and how it
    changes across the region (a sky's gradient, the lit side of a ridge) are the look's. Both pictures are
    compared at the render's thumbnail size, blurred within each class region (so one class's colour never
    bleeds into another's), and the difference is added back at full size: only frequencies the thumbnail
    holds change. Classes the thumbnail lost (thin strokes) keep their colour.

    Args:
        out: ``(1, 3, H, W)`` generated picture in [-1, 1].
        ids: ``(H, W)`` its label map (ids outside ``0..num_classes-1``: don't care, no change).
        ref: ``(1, 3, s, s)`` the seed's render in [0, 1] (:func:`look_render`); ``ref_ids (s, s)`` its labels.
        num_classes: ``K``.
        strength: 0 leaves the picture as it is, 1 moves its low frequencies onto the render's.
        radius: blur radius in thumbnail pixels (0: one colour shift per class region).

    Returns:
        ``(1, 3, H, W)`` in [-1, 1].
    """
    K, s = num_classes, ref.shape[-1]
    dev = out.device
    x = out.float()
    small = F.interpolate(x, size=(s, s), mode="area")  # the picture at the render's size (and squash)
    ref, ref_ids = ref.float().to(dev) * 2 - 1, ref_ids.to(dev)
    if radius:
        want, _ = _class_lowpass(ref, ref_ids, K, radius)
        have, _ = _class_lowpass(small, ref_ids, K, radius)
        delta = want - have  # (K, 3, s, s); 0 beyond the blur's reach of a class (both sides read 0)
    else:
        m_want, known = class_means(ref, ref_ids, K)
        m_have, _ = class_means(small, ref_ids, K)
        delta = ((m_want - m_have)[0] * known[:, None])[:, :, None, None].expand(K, 3, s, s)
    # The field is smooth but for its steps at class edges, which are softened over ~1 px per 256 anyway: above
    # FIELD_SIDE it is built at 1/f of the size and enlarged once (2048 px: ~50 MB instead of ~0.3 GB of temporaries).
    H, W = x.shape[-2:]
    f = max(1, -(-max(H, W) // FIELD_SIDE))
    big = ids.to(dev)[::f, ::f]
    h, w = big.shape
    field = x.new_zeros(3, h, w)
    for k in range(K):  # one class at a time: a (K, 3, h, w) stack would not fit the budget at 2048 px
        where = big == k
        if where.any():
            up = F.interpolate(delta[k : k + 1], size=(h, w), mode="bilinear", align_corners=False)[0]
            field += up * where
    field = _blur(field[None], max(1, round(max(h, w) / 256)))  # the class edges' step, softened
    if f > 1:
        field = F.interpolate(field, size=(H, W), mode="bilinear", align_corners=False)
    return torch.add(x, field, alpha=strength).clamp_(-1, 1).to(out.dtype)


def main(argv: list[str] | None = None) -> int:
    """Set how an exported SPADE file's seeds draw style codes (rewrites the file atomically)."""
    from models.common.checkpoint import (
        OWN_METADATA,
        CheckpointError,
        load_checkpoint,
        read_metadata,
        save_checkpoint,
    )

    p = argparse.ArgumentParser(prog="python -m models.spade.looks", description=main.__doc__)
    p.add_argument("checkpoint", help="an exported SPADE generator (.safetensors)")
    p.add_argument(
        "--seed-looks",
        choices=SEED_LOOKS,
        default="renderer",
        help="renderer: a seed renders your layout with one of the renderer's looks and encodes it; "
        "prior: a seed draws from the fitted Gaussian prior (default: %(default)s)",
    )
    p.add_argument(
        "--look-match",
        type=float,
        default=None,
        metavar="X",
        help="renderer seeds: move each class region's colours this far (0-1) onto the seed's render of the "
        "layout (default: keep the file's; 0 with --seed-looks prior)",
    )
    p.add_argument("-o", "--out", help="write here instead of over the input")
    args = p.parse_args(argv)
    try:
        state, cfg = load_checkpoint(args.checkpoint, kind="spade")
        from models.spade.generator import GenConfig

        keep = cfg.get("look_match", 0.0) if args.seed_looks == "renderer" else 0.0
        new = {"seed_looks": args.seed_looks, "look_match": keep if args.look_match is None else args.look_match}
        GenConfig.from_dict(cfg | new)  # refuse what the file cannot do
    except (CheckpointError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    out = args.out or args.checkpoint
    # keep what else the file records (its training steps, ...); fp16 in, fp16 out: no weight changes
    extra = {k: v for k, v in read_metadata(args.checkpoint).items() if k not in OWN_METADATA}
    save_checkpoint(out, state, cfg | new, kind="spade", extra_metadata=extra)
    match = f", colours matched {new['look_match']:g} onto its render" if new["look_match"] else ""
    print(f"{out}: seeds draw style codes from the {args.seed_looks}{match}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
