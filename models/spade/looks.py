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

__all__ = ["SEED_LOOKS", "look_code", "look_thumbnail", "renderer_knows", "main"]

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
def look_code(generator: torch.nn.Module, ids: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """The style code ``(1, z_dim)`` of the layout ``ids (H, W)`` rendered with a look drawn from ``rng``.

    One number is drawn from ``rng`` (the render's seed), so a seed gives one look on every layout, and what the
    caller draws from ``rng`` afterwards (the noise inputs) is the same for every layout too.
    """
    from models.landscape.render import render_layout

    seed = int(torch.randint(0, 2**48, (1,), generator=rng))
    size = max(16, int(generator.cfg.enc_size if generator.cfg.arch == "crop" else generator.cfg.size))
    dev = next(generator.parameters()).device
    picture = render_layout(look_thumbnail(ids.cpu(), size), [seed]).to(dev)  # (1, 3, size, size) in [0, 1]
    mu, _ = generator.encode(picture * 2 - 1)
    return mu.float()


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
    p.add_argument("-o", "--out", help="write here instead of over the input")
    args = p.parse_args(argv)
    try:
        state, cfg = load_checkpoint(args.checkpoint, kind="spade")
        from models.spade.generator import GenConfig

        GenConfig.from_dict(cfg | {"seed_looks": args.seed_looks})  # refuse what the file cannot do
    except (CheckpointError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    out = args.out or args.checkpoint
    # keep what else the file records (its training steps, ...); fp16 in, fp16 out: no weight changes
    extra = {k: v for k, v in read_metadata(args.checkpoint).items() if k not in OWN_METADATA}
    save_checkpoint(out, state, cfg | {"seed_looks": args.seed_looks}, kind="spade", extra_metadata=extra)
    print(f"{out}: seeds draw style codes from the {args.seed_looks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
