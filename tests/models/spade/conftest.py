"""Shared helpers of the SPADE tests."""

from models.common.checkpoint import save_checkpoint
from models.spade.generator import GenConfig, baked_state_dict, build_generator


def crop_checkpoint(path, **kw):
    """A tiny random crop generator, native at 32-64 px, saved like an exported one (what the app/CLI load)."""
    cfg = GenConfig(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, native=[32, 64], size=32, **kw)
    return save_checkpoint(
        path, baked_state_dict(build_generator(cfg)), cfg.to_dict() | {"spectral": False}, kind="spade"
    )
