"""The quality sweep on real photos through the real pipeline, and the analysis helpers of the quality notebook."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from resizer.config import DEFAULT_CONFIG_PATH, parse_config
from resizer_bench import quality
from resizer_bench.datasets import load_dataset

CONFIG = DEFAULT_CONFIG_PATH.read_text()
QUALITIES = {"jpeg": (40, 80, 95), "webp": (60,)}


@pytest.fixture(scope="module")
def chelsea_rows():
    ds = load_dataset("bundled")
    task = quality.SweepTask(str(ds.path("chelsea.png")), "chelsea.png", "pillow", CONFIG, ("sm",),
                             tuple(QUALITIES.items()))
    return pd.DataFrame(quality.sweep_image(task))


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


def test_jpeg_originals_get_a_jpeg_q80_baseline():
    grid = quality.requests_for(parse_config(CONFIG).variant("sm"), {"webp": (60,)}, "jpeg")
    assert [(f, q, b) for _, f, q, b in grid] == [("webp", 60, False), ("jpeg", 80, True)]
    assert grid[1][0].encoder("jpeg").quality == 80
    grid = quality.requests_for(parse_config(CONFIG).variant("sm"), {"jpeg": (70, 80)}, "jpeg")
    assert [(f, q, b) for _, f, q, b in grid] == [("jpeg", 70, False), ("jpeg", 80, True)]  # no duplicate


def test_with_quality_changes_one_format_only():
    variant = parse_config(CONFIG).variant("md")
    changed = quality.with_quality(variant, "avif", 42)
    assert changed.encoder("avif").quality == 42 and changed.encoder("avif").effort == variant.encoder("avif").effort
    assert changed.encoder("webp") == variant.encoder("webp") and changed.size == variant.size


def test_run_sweep_skips_variants_without_enough_larger_images(tmp_path):
    ds = load_dataset("bundled", cache_dir=tmp_path)
    ds = replace(ds, images=ds.images[ds.images.file.isin(["retina.jpg", "rocket.jpg"])].reset_index(drop=True))
    config = parse_config(CONFIG)
    cover = quality.coverage(ds.images, config, ["sm", "lg", "xl"], min_images=2)
    assert cover.set_index("variant").larger.to_dict() == {"sm": 2, "lg": 1, "xl": 1}
    assert cover.set_index("variant").swept.to_dict() == {"sm": True, "lg": False, "xl": False}
    frame = quality.run_sweep(ds, config_text=CONFIG, variants=["sm", "xl"], qualities={"jpeg": (60,)},
                              backends=("vips",), min_images=2, workers=1)
    assert set(frame.variant) == {"sm"} and set(frame.file) == {"retina.jpg", "rocket.jpg"}
    assert frame.attrs["versions"]["libvips"].count(".") == 2
    assert (frame.s2_equiv == frame.s2 * 1.1028 - 11.094).all()  # sm outputs have 4 scales: calibrated


def synthetic(metric_by_quality: dict) -> pd.DataFrame:
    """Two backends' RD points for two images: metric rises with bpp; vips 2 points better everywhere."""
    rows = []
    for file in ("a", "b"):
        for backend, bonus in (("vips", 2.0), ("pillow", 0.0)):
            for q, (bpp, metric) in metric_by_quality.items():
                rows.append(dict(file=file, variant="sm", format="webp", backend=backend, quality=q, bpp=bpp,
                                 bytes=bpp * 1000, s2=metric + bonus, encode_ms=1.0))
    return pd.DataFrame(rows)


def test_equal_bytes_comparison():
    frame = synthetic({50: (0.5, 50.0), 80: (1.0, 70.0), 95: (2.0, 90.0)})
    pairs = quality.equal_bytes(frame, "s2", points=5)
    np.testing.assert_allclose(pairs["diff"], 2.0)
    summary = quality.equal_bytes_summary(pairs)
    assert summary.to_dict(orient="records") == [dict(variant="sm", format="webp", n=2, median=2.0, q25=2.0,
                                                      q75=2.0)]


def test_rd_table():
    table = quality.rd_table(synthetic({50: (0.5, 50.0), 80: (1.0, 70.0)}), "s2")
    row = table[(table.backend == "vips") & (table.quality == 80)].iloc[0]
    assert (row.n, row.bpp, row["median"]) == (2, 1.0, 72.0)


def test_study_and_calibration_on_one_photo(tmp_path):
    ds = load_dataset("bundled", cache_dir=tmp_path)
    study = pd.DataFrame(quality.study_image(quality.StudyTask(str(ds.path("coffee.png")), "coffee.png",
                                                               (100, 400), (30, 60, 90))))
    assert study.groupby("box").scales.first().to_dict() == {100: 4, 400: 6}
    full = study[study.box == 400]
    assert np.allclose(full.trunc5, full.native) and np.allclose(full.padded, full.native)
    assert (full.trunc4 > full.native).all()  # missing coarse scales count as error-free: scores rise
    calibration, diag = quality.calibrate_scales(study)
    assert set(calibration) == {3, 4} and list(diag.scales) == [3, 4, 5]
    evidence = quality.study_evidence(study, calibration).set_index(["box", "metric"])
    assert evidence.loc[(100, "equivalent"), "rho"] == 1.0
