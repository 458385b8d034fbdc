"""app.config: the limits' defaults, the size steps offered in the UI, the upload limit that follows the pixel limit."""

from __future__ import annotations

import pytest

from app.config import MAX_INPUT_MEGAPIXELS, ORIGINAL_SIZE, SPADE_MAX_SIDE, AppConfig, upload_mb_for


def test_defaults_allow_large_outputs_but_keep_the_upload_limits():
    config = AppConfig()
    assert config.max_size == 8192
    assert config.max_input_pixels == 40_000_000 and config.max_upload_mb == 50


@pytest.mark.parametrize(
    "max_size, top", [(1024, [768, 1024]), (4096, [3072, 4096]), (8192, [6144, 8192]), (5000, [4096, 5000])]
)
def test_size_steps_go_up_to_max_size(max_size, top):
    # the reported bug: with --max-size 4096 the menu stopped at 2048
    choices = AppConfig(max_size=max_size).size_choices
    assert choices[-2:] == top and choices == sorted(choices)
    assert all(AppConfig().min_size <= s <= max_size for s in choices)


def test_style_transfer_offers_the_original_size_and_paint_to_image_does_not():
    config = AppConfig(max_size=4096)
    style = config.style_size_choices
    assert style[-1] == ("original size", ORIGINAL_SIZE) and ORIGINAL_SIZE == 0
    assert [value for _, value in style[:-1]] == config.size_choices
    assert ORIGINAL_SIZE not in config.spade_size_choices


def test_paint_to_image_sizes_stop_where_the_synthesizer_does():
    from models.spade.infer import MAX_SIDE

    assert SPADE_MAX_SIDE == MAX_SIDE
    assert AppConfig().spade_size_choices[-1] == 4096
    assert AppConfig(max_size=1024).spade_size_choices[-1] == 1024


def test_the_upload_limit_grows_with_the_pixel_limit():
    assert upload_mb_for(40_000_000) == 50 and upload_mb_for(10_000_000) == 50  # never below the default
    assert AppConfig(max_input_pixels=60_000_000).max_upload_mb == 75  # 1.25 MB per megapixel
    assert AppConfig(max_input_pixels=100_000_000).max_upload_mb == 125
    assert AppConfig(max_input_pixels=100_000_000, max_upload_mb=20).max_upload_mb == 20  # an explicit value wins


def test_the_pixel_limit_stops_at_the_tiled_stylizers_limit():
    from app.limits import MAX_MEGAPIXELS

    assert MAX_INPUT_MEGAPIXELS == MAX_MEGAPIXELS == 100
    assert AppConfig(max_input_pixels=100_000_000).max_input_megapixels == 100
    with pytest.raises(ValueError, match="max_input_pixels must be between 1 and 100 megapixels, got 101 MP"):
        AppConfig(max_input_pixels=101_000_000)


def test_video_limits_default_to_a_minute_of_4k_in_200_mb():
    config = AppConfig()
    assert (config.max_video_seconds, config.max_video_side, config.max_video_mb, config.max_video_frames) == (
        60,
        3840,
        200,
        3600,
    )
    assert config.upload_limit_mb == 200  # the server takes the larger of the image and video limits
    assert AppConfig(max_video_mb=10).upload_limit_mb == 50 and AppConfig(max_video_mb=0.5).upload_limit_mb == 50


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_video_seconds", 0, "max_video_seconds must be > 0, got 0"),
        ("max_video_frames", -1, "max_video_frames must be > 0, got -1"),
        ("max_video_mb", float("nan"), "max_video_mb must be > 0, got nan"),
        ("max_video_size", 4000, "max_video_size must be between 16 and 1920 px, got 4000"),
    ],
)
def test_bad_video_limits_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        AppConfig(**{field: value})


def test_the_video_literals_are_the_models():
    from app.config import VIDEO_MAX_SIDE
    from models.adain.video import MAX_VIDEO_SIDE

    assert VIDEO_MAX_SIDE == MAX_VIDEO_SIDE
