"""The quality sweep on real photos through the real pipeline."""

from dataclasses import replace

import pandas as pd
import pytest

from resizer.config import DEFAULT_CONFIG_PATH, parse_config
from resizer_bench import sweep
from resizer_bench.datasets import load_dataset

CONFIG = DEFAULT_CONFIG_PATH.read_text()
QUALITIES = {"jpeg": (40, 80, 95), "webp": (60,)}


@pytest.fixture(scope="module")
def chelsea_rows():
    ds = load_dataset("bundled")
    task = sweep.SweepTask(str(ds.path("chelsea.png")), "chelsea.png", "pillow", CONFIG, ("sm",),
                             tuple(QUALITIES.items()))
    return pd.DataFrame(sweep.sweep_image(task))


def test_sweep_rows_for_one_image(chelsea_rows):
    rows = chelsea_rows
    # 3 JPEG + 1 WebP qualities, plus the original product's output: a PNG original stays PNG
    assert list(zip(rows.format, rows.quality.astype("Int64"), rows.baseline, strict=True)) == [
        ("jpeg", 40, False), ("jpeg", 80, False), ("jpeg", 95, False), ("webp", 60, False), ("png", pd.NA, True)]
    assert (rows.width == 100).all() and (rows.height == 67).all() and (rows.s2_scales == 4).all()
    assert rows.bpp.equals(rows.bytes * 8 / (100 * 67))
    jpeg = rows[rows.format == "jpeg"]
    assert jpeg.bytes.is_monotonic_increasing and jpeg.s2.is_monotonic_increasing and jpeg.ssim.is_monotonic_increasing
    png = rows[rows.format == "png"].iloc[0]
    assert png.s2 > jpeg.s2.max() and png.bytes > jpeg.bytes.max()
    assert rows.backend_version.str.startswith("pillow ").all() and (rows.encode_ms > 0).all()


def test_encoder_sets_are_swept_and_named_on_a_png_original():
    """vips: every swept set at every quality, named by its settings, the input's marked current; the PNG
    original's lossless baseline and its palette sets (a JPEG original would get neither)."""
    ds = load_dataset("bundled")
    config = parse_config(CONFIG)
    qualities = {"jpeg": (60, 80), "avif": (50,), "png": (80,)}
    sets = sweep._task_sets(config, ("sm",), qualities, "vips", None)
    task = sweep.SweepTask(str(ds.path("chelsea.png")), "chelsea.png", "vips", CONFIG, ("sm",),
                           tuple(qualities.items()), sets)
    rows = pd.DataFrame(sweep.sweep_image(task))
    got = {(f, s, q if pd.notna(q) else None, c) for f, s, q, c in zip(rows.format, rows.settings, rows.quality,
                                                                        rows.current, strict=True)}
    jpeg, moz = "subsampling=4:2:0 progressive=true", "subsampling=4:2:0 progressive=true mozjpeg=true"
    moz444 = "subsampling=4:4:4 progressive=true mozjpeg=true"
    assert got == {("jpeg", jpeg, 60, True), ("jpeg", jpeg, 80, True), ("jpeg", moz, 60, False),
                   ("jpeg", moz, 80, False), ("jpeg", moz444, 60, False), ("jpeg", moz444, 80, False),
                   ("avif", "subsampling=4:2:0 effort=2", 50, True), ("avif", "subsampling=4:4:4 effort=2", 50, False),
                   ("png", "effort=6", None, True), ("png", "effort=6 palette=true", 80, False),
                   ("png", "effort=6 palette=true dither=0.0", 80, False)}
    assert rows.loc[rows.format == "png", "baseline"].tolist() == [True, False, False]
    # the sets write other bytes: mozjpeg is smaller at equal quality, the palette smaller than lossless
    by = rows.set_index(["format", "settings", "quality"]).bytes
    assert by["jpeg", moz, 80] < by["jpeg", jpeg, 80]
    png = rows[rows.format == "png"].set_index("settings").bytes
    assert png["effort=6 palette=true"] < 0.75 * png["effort=6"]
    assert not [r for r in sweep.requests_for(config.variant("sm"), qualities, "jpeg",
                                              {"png": [{}, {"palette": True}]}) if r[1] == "png"]


def test_jpeg_originals_get_a_jpeg_q80_baseline():
    grid = sweep.requests_for(parse_config(CONFIG).variant("sm"), {"webp": (60,)}, "jpeg")
    assert [(f, q, b) for _, f, q, b in grid] == [("webp", 60, False), ("jpeg", 80, True)]
    assert grid[1][0].encoder("jpeg").quality == 80
    grid = sweep.requests_for(parse_config(CONFIG).variant("sm"), {"jpeg": (70, 80)}, "jpeg")
    assert [(f, q, b) for _, f, q, b in grid] == [("jpeg", 70, False), ("jpeg", 80, True)]  # no duplicate


def test_with_quality_changes_one_format_only():
    variant = parse_config(CONFIG).variant("md")
    changed = sweep.with_quality(variant, "avif", 42)
    assert changed.encoder("avif").quality == 42 and changed.encoder("avif").effort == variant.encoder("avif").effort
    assert changed.encoder("webp") == variant.encoder("webp") and changed.size == variant.size


def test_run_sweep_skips_variants_without_enough_larger_images(tmp_path):
    ds = load_dataset("bundled", cache_dir=tmp_path)
    ds = replace(ds, images=ds.images[ds.images.file.isin(["retina.jpg", "rocket.jpg"])].reset_index(drop=True))
    config = parse_config(CONFIG)
    cover = sweep.coverage(ds.images, config, ["sm", "lg", "xl"], min_images=2)
    assert cover.set_index("variant").larger.to_dict() == {"sm": 2, "lg": 1, "xl": 1}
    assert cover.set_index("variant").swept.to_dict() == {"sm": True, "lg": False, "xl": False}
    frame = sweep.run_sweep(ds, config_text=CONFIG, variants=["sm", "xl"], qualities={"jpeg": (60,)},
                              backends=("vips",), min_images=2, workers=1)
    assert set(frame.variant) == {"sm"} and set(frame.file) == {"retina.jpg", "rocket.jpg"}
    assert frame.attrs["versions"]["libvips"].count(".") == 2
    assert (frame.s2_equiv == frame.s2 * 1.1028 - 11.094).all()  # sm outputs have 4 scales: calibrated


def test_sweep_grid_defaults_and_refusals():
    config = parse_config(CONFIG)
    variants, grid = sweep.sweep_grid(config, quick=True)
    assert variants == list(sweep.QUICK_VARIANTS) and grid == sweep.QUICK_QUALITIES
    variants, grid = sweep.sweep_grid(config, quick=False, formats=["webp"])
    assert variants == list(config.variants) and grid == {"webp": sweep.QUALITIES["webp"]}
    assert sweep.sweep_grid(config, quick=False, formats=["png"])[1] == {"png": sweep.QUALITIES["png"]}
    with pytest.raises(ValueError, match="gif"):
        sweep.sweep_grid(config, quick=False, formats=["gif"])
