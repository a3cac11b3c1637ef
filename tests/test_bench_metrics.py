"""Quality metrics on known pairs: SSIM against closed forms and an independent implementation, SSIMULACRA2
against the `ssimulacra2` package it restructures, and the reference image both backends are scored against."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms
from ssimulacra2 import compute_ssimulacra2

from resizer_bench import metrics
from resizer_bench.datasets import bundled_dir
from resizer_bench.metrics import Ssimulacra2, equivalent_score, quality_score, ssim, ssimulacra2

SKIMAGE_DATA = bundled_dir()


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return np.asarray(Image.open(SKIMAGE_DATA / "coffee.png").convert("RGB"))


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return metrics.decode_rgb(out.getvalue())


def wang_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 written out: 11x11 gaussian window (sigma 1.5), population statistics, edge-replicated
    borders, mean over the pixels whose window lies inside the image."""
    r = np.arange(-5, 6)
    g = np.exp(-(r**2) / (2 * 1.5**2))
    g /= g.sum()

    def blur(img):
        padded = np.pad(img, 5, mode="edge")
        rows = np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 1, padded)
        return np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 0, rows)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def test_ssim_of_identical_images_is_one(coffee):
    assert ssim(coffee, coffee.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_a_constant_shift_on_a_flat_image_has_a_closed_form():
    flat, shifted = np.full((40, 40, 3), 100, np.uint8), np.full((40, 40, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)  # the variance terms cancel: (0 + C2) / (0 + C2)
    assert ssim(flat, shifted) == pytest.approx(expected, rel=1e-9)
    assert expected < 0.99


def test_ssim_matches_an_independent_implementation_on_noise(coffee):
    rng = np.random.default_rng(0)
    noisy = np.clip(coffee + rng.normal(0, 12, coffee.shape), 0, 255).astype(np.uint8)
    x, y = metrics.luma(coffee), metrics.luma(noisy)
    expected = wang_ssim(x, y)
    assert ssim(coffee, noisy) == pytest.approx(expected, abs=1e-6)
    assert 0.4 < expected < 0.9


def test_ssim_is_on_luma_so_a_chroma_only_change_barely_counts(coffee):
    yuv = Image.fromarray(coffee).convert("YCbCr")
    y, cb, cr = (np.asarray(c) for c in yuv.split())
    swapped = np.asarray(Image.merge("YCbCr", [Image.fromarray(y), Image.fromarray(cr), Image.fromarray(cb)])
                         .convert("RGB"))
    assert ssim(coffee, swapped) > 0.9
    assert ssimulacra2(coffee, swapped) < 50  # colour errors are SSIMULACRA2's job


def test_ssimulacra2_of_identical_images_is_100(coffee):
    assert ssimulacra2(coffee, coffee.copy()) == pytest.approx(100.0)


@pytest.mark.parametrize("size", [(600, 400), (301, 199), (100, 67), (37, 251)])
def test_ssimulacra2_agrees_with_the_package(coffee, size, tmp_path):
    ref = np.asarray(Image.fromarray(coffee).resize(size, Image.Resampling.LANCZOS))
    dist = jpeg(ref, 40)
    Image.fromarray(ref).save(tmp_path / "a.png")
    Image.fromarray(dist).save(tmp_path / "b.png")
    assert ssimulacra2(ref, dist) == pytest.approx(compute_ssimulacra2(tmp_path / "a.png", tmp_path / "b.png"),
                                                   abs=0.05)


def test_one_reference_scores_many_distortions_like_fresh_calls(coffee):
    scorer = Ssimulacra2(coffee)
    for q in (30, 80):
        dist = jpeg(coffee, q)
        assert scorer(dist) == ssimulacra2(coffee, dist)


def test_ssimulacra2_rises_with_jpeg_quality(coffee):
    scores = [ssimulacra2(coffee, jpeg(coffee, q)) for q in (20, 40, 60, 80, 95)]
    assert scores == sorted(scores) and scores[0] < 50 < 80 < scores[-1]


def test_pyramid_depth():
    assert metrics.s2_scales(400, 600) == 6
    assert metrics.s2_scales(225, 225) == 6 and metrics.s2_scales(224, 300) == 5
    assert metrics.s2_scales(67, 100) == 4
    assert metrics.s2_scales(7, 100) == 0


def test_quality_score_equals_the_package_metric_with_enough_scales(coffee):
    dist = jpeg(coffee, 50)
    score, scales = quality_score(coffee, dist)
    assert scales == 6 and score == pytest.approx(ssimulacra2(coffee, dist))
    small = np.asarray(Image.fromarray(coffee).resize((250, 167), Image.Resampling.LANCZOS))
    dist = jpeg(small, 50)
    score, scales = quality_score(small, dist)
    # 5 scales: the 6th scale's weights are ~0, so keeping weights on their scales changes nothing ...
    assert scales == 5 and score == pytest.approx(Ssimulacra2(small, pad_scales=True, max_scales=5)(dist))
    # ... while the package shifts the table and scores the same pixels differently
    assert abs(score - ssimulacra2(small, dist)) > 1


def test_quality_score_stays_meaningful_on_thumbnails(coffee):
    thumb = np.asarray(Image.fromarray(coffee).resize((100, 67), Image.Resampling.LANCZOS))
    scores = [quality_score(thumb, jpeg(thumb, q)) for q in (20, 50, 80, 95)]
    assert {s for _, s in scores} == {4}
    values = [v for v, _ in scores]
    assert values == sorted(values) and values[-1] > 80
    assert ssimulacra2(thumb, jpeg(thumb, 95)) < 60  # the package's own score: near-lossless reads as poor


def test_equivalent_score_maps_only_short_pyramids():
    calibration = {4: (-10.0, 1.1)}
    assert equivalent_score(80.0, 6, calibration) == 80.0
    assert equivalent_score(80.0, 4, calibration) == pytest.approx(78.0)
    np.testing.assert_allclose(equivalent_score([80.0, 80.0], [5, 4], calibration), [80.0, 78.0])


def test_reference_is_upright_srgb_at_the_exact_size(p3_profile):
    src = Image.open(SKIMAGE_DATA / "coffee.png").convert("RGB")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    in_p3 = ImageCms.profileToProfile(src, srgb, ImageCms.ImageCmsProfile(io.BytesIO(p3_profile)),
                                      outputMode="RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    in_p3.transpose(Image.Transpose.ROTATE_90).save(buf, "PNG", icc_profile=p3_profile, exif=exif.tobytes())
    source = metrics.load_source(buf.getvalue())
    assert source.size == src.size
    ref = metrics.reference(source, 151, 100)
    assert ref.shape == (100, 151, 3)
    expected = np.asarray(src.resize((151, 100), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(ref.astype(int) - expected).mean() < 2  # colour-managed back to sRGB, upright
    raw = np.asarray(in_p3.resize((151, 100), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(raw - expected).mean() > 3  # (the P3 pixels read as sRGB would not be)


def test_alpha_is_flattened_on_white():
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert (metrics.to_srgb_rgb(rgba) == 255).all()
