"""Full-reference quality metrics and the reference image both backends are scored against.

- `ssim`: Wang et al. 2004 SSIM on BT.601 luma. Luma, not RGB, because that is what the paper defines (it is a
  greyscale index) and what most codec comparisons report; an average over R, G, B would let chroma subsampling
  errors count three times over in correlated channels. Colour errors are SSIMULACRA2's job.
- `ssimulacra2`: the `ssimulacra2` package's pure-Python port, driven from arrays (the package only takes paths).
- `quality_score`: the metric the chooser thresholds. SSIMULACRA2 weights 6 scales x 3 channels with one table
  of 108 weights consumed in channel-major order (libjxl does the same), so an image with fewer than 6 scales
  (the pyramid stops below 8 px: short side < 225 px here) shifts every later weight onto the wrong channel and
  scale, and the score stops meaning anything (around 100 px it is near 0 even for JPEG q95). `quality_score`
  keeps each weight on its own channel and scale and counts missing coarse scales as error-free; the 6th
  scale's weights are ~0, so with 5 scales (short side >= 113 px) this equals the full metric, and below that
  `equivalent_score` maps the score to the 6-scale scale with a fit measured where all scales exist
  (evidence and calibration: notebooks/quality.ipynb, datasets/README.md).
"""

import io

import numpy as np
from PIL import Image, ImageCms, ImageOps
from scipy import ndimage
from skimage.metrics import structural_similarity
from ssimulacra2 import ssimulacra2 as _s2

# Wang et al. 2004: 11x11 gaussian window (sigma 1.5), population covariances, K1 0.01, K2 0.03, 8-bit range.
SSIM_PARAMS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, K1=0.01, K2=0.03)
BT601 = np.array([0.299, 0.587, 0.114])
S2_SCALES = 6
_SRGB = ImageCms.createProfile("sRGB")


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 Y' of an 8-bit RGB (or already grey) array, as float64 on the 0-255 scale."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb if rgb.ndim == 2 else rgb[..., :3] @ BT601


def ssim(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004 parameters) between the luma planes of two same-size 8-bit images."""
    _same_shape(reference, distorted)
    return float(structural_similarity(luma(reference), luma(distorted), **SSIM_PARAMS))


def ssim_map(reference: np.ndarray, distorted: np.ndarray) -> np.ndarray:
    """SSIM's local map on luma (same parameters as `ssim`): where the two differ, for pictures of the error."""
    _same_shape(reference, distorted)
    _, full = structural_similarity(luma(reference), luma(distorted), full=True, **SSIM_PARAMS)
    return full


def s2_scales(height: int, width: int) -> int:
    """How many SSIMULACRA2 scales an image of this size gets (the pyramid stops below 8 px)."""
    scales = 0
    while scales < S2_SCALES and min(height, width) >= 8:
        scales += 1
        height, width = (height + 1) // 2, (width + 1) // 2
    return scales


class Ssimulacra2:
    """SSIMULACRA2 against one reference, for scoring many distorted versions of it.

    The arithmetic of the `ssimulacra2` package's `compute_ssimulacra2` (its weights and final mapping are
    used as they are), restructured for speed: the reference's pyramid, blurred means and variances are
    computed once; sRGB decoding is a 256-entry table; the maps run in float32. Agreement with the package is
    tested (|difference| < 0.05 points). Like the package (and libjxl), XYB planes are transposed, so the
    zero-padded blur axis is the image's x axis.
    """

    def __init__(self, reference: np.ndarray, *, pad_scales: bool = False, max_scales: int = S2_SCALES):
        self.shape = reference.shape[:2]
        self.pad_scales = pad_scales
        self.levels = []  # per scale: (img1, mu1, sigma11, 1 + |img1 - mu1|)
        for img1 in _xyb_pyramid(reference, max_scales):
            mu1 = _blur(img1)
            self.levels.append((img1, mu1, _blur(img1 * img1) - mu1 * mu1, 1.0 + np.abs(img1 - mu1)))

    def __call__(self, distorted: np.ndarray) -> float:
        if distorted.shape[:2] != self.shape:
            _same_shape(np.empty(self.shape), distorted)
        msssim = _s2.Msssim()
        for (img1, mu1, var1, edge1), img2 in zip(self.levels, _xyb_pyramid(distorted, len(self.levels)),
                                                  strict=True):
            mu2 = _blur(img2)
            scale = _s2.MsssimScale()
            mu12 = mu1 * mu2
            num_m = 1.0 - (mu1 - mu2) ** 2
            num_s = 2.0 * (_blur(img1 * img2) - mu12) + _s2.kC2
            denom_s = var1 + (_blur(img2 * img2) - mu2 * mu2) + _s2.kC2
            scale.avg_ssim = _norms(np.maximum(1.0 - num_m * num_s / denom_s, 0.0), 2)
            ratio = (1.0 + np.abs(img2 - mu2)) / edge1 - 1.0
            artifact = _norms(np.maximum(ratio, 0.0), 4)
            detail_lost = _norms(np.maximum(-ratio, 0.0), 4)
            scale.avg_edgediff = np.zeros(12)
            scale.avg_edgediff[0::4], scale.avg_edgediff[1::4] = artifact[0::4], artifact[1::4]
            scale.avg_edgediff[2::4], scale.avg_edgediff[3::4] = detail_lost[0::4], detail_lost[1::4]
            msssim.scales.append(scale)
        if self.pad_scales:
            msssim.scales += [_s2.MsssimScale() for _ in range(S2_SCALES - len(msssim.scales))]
        return float(msssim.score())


def ssimulacra2(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIMULACRA2 of two same-size 8-bit sRGB arrays (100 = identical; the package's scale)."""
    _same_shape(reference, distorted)
    return Ssimulacra2(reference)(distorted)


_SRGB_TO_LINEAR = _s2.srgb_to_linear(np.arange(256, dtype=np.float64))
_XYB_MATRIX = _s2.kOpsinAbsorbanceMatrix.reshape(3, 3)
_XYB_BIAS = _s2.kOpsinAbsorbanceBias
_XYB_BIAS_CBRT = np.cbrt(_XYB_BIAS)


def _xyb_pyramid(image: np.ndarray, max_scales: int = S2_SCALES):
    """The positive-XYB planes (transposed, float32) of each scale, halving in linear light as the package does."""
    linear = _SRGB_TO_LINEAR[_rgb8(image)]
    for scale in range(max_scales):
        if linear.shape[0] < 8 or linear.shape[1] < 8:
            return
        yield _positive_xyb(linear)
        if scale < max_scales - 1:
            linear = _halve(linear)


def _positive_xyb(linear: np.ndarray) -> np.ndarray:
    r, g, b = (linear[..., c].T for c in range(3))  # transposed, as the package's `linear.T` leaves them
    m0, m1, m2 = (np.cbrt(np.maximum(row[0] * r + row[1] * g + row[2] * b + bias, 0.0)) - cbrt_bias
                  for row, bias, cbrt_bias in zip(_XYB_MATRIX, _XYB_BIAS, _XYB_BIAS_CBRT, strict=True))
    xyb = np.empty((*r.shape, 3), dtype=np.float32)
    y = 0.5 * (m0 + m1)
    xyb[..., 0] = 0.5 * (m0 - m1) * 14.0 + 0.42
    xyb[..., 1] = y + 0.01
    xyb[..., 2] = m2 - y + 0.55
    return xyb


def _halve(linear: np.ndarray) -> np.ndarray:
    """2x2 box average; an odd last row/column is averaged on its own (edge-replicated), as the package does."""
    h, w = linear.shape[:2]
    if h % 2 or w % 2:
        linear = np.pad(linear, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return linear.reshape(linear.shape[0] // 2, 2, linear.shape[1] // 2, 2, 3).mean(axis=(1, 3))


def _blur(plane: np.ndarray) -> np.ndarray:
    """The package's blur: gaussian sigma 1.5, truncate 3.33; zeros beyond axis 0, mirrored beyond axis 1."""
    out = ndimage.gaussian_filter1d(plane, 1.5, axis=0, truncate=3.33, mode="constant", cval=0.0)
    return ndimage.gaussian_filter1d(out, 1.5, axis=1, truncate=3.33, mode="reflect")


def _norms(d: np.ndarray, stride: int) -> np.ndarray:
    """Per channel: mean, then 4-norm (mean of 4th powers, 4th root), interleaved as the package stores them."""
    flat = d.reshape(-1, 3)
    out = np.zeros(3 * stride)
    out[0::stride] = flat.mean(axis=0, dtype=np.float64)
    out[1::stride] = np.square(np.square(flat)).mean(axis=0, dtype=np.float64) ** 0.25
    return out


def quality_score(reference: np.ndarray, distorted: np.ndarray) -> tuple[float, int]:
    """(SSIMULACRA2 with weights kept on their scales, missing scales error-free; scales computed)."""
    scorer = Ssimulacra2(reference, pad_scales=True)
    return scorer(distorted), len(scorer.levels)


# 6-scale score ~= a + b * (score with only k scales, padded), for k < 5: `study.calibrate_scales` on the
# development corpus (8 photos of ../shared/corpus, JPEG q20-95 at 250-400 px, 60 outputs with all 6 scales;
# residual sd 2.1 (k=3) and 1.4 (k=4) points). The quality notebook refits it on its own dataset.
S2_CALIBRATION = {3: (-24.856, 1.2511), 4: (-11.094, 1.1028)}


def equivalent_score(score, scales, calibration: dict | None = None):
    """A `quality_score` restated on the 6-scale scale: scores with fewer than 5 scales go through the fitted
    line for their scale count (scalars or arrays)."""
    calibration = S2_CALIBRATION if calibration is None else calibration
    score, scales = np.asarray(score, dtype=np.float64), np.asarray(scales)
    out = score.copy()
    for k, (a, b) in calibration.items():
        out = np.where(scales == k, a + b * score, out)
    return out if out.ndim else float(out)


def _rgb8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected an 8-bit image, got {image.dtype}")
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"images differ in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")


# --- decoding to what a viewer sees ---------------------------------------------------------------------------

def to_srgb_rgb(image: Image.Image) -> np.ndarray:
    """An 8-bit sRGB RGB array of a decoded image: ICC profile converted to sRGB, alpha flattened on white
    (as the JPEG fallback does), greyscale expanded. Applied to references and to decoded outputs alike."""
    icc = image.info.get("icc_profile")
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = {"L": "RGB", "LA": "RGBA"}.get(image.mode, image.mode)
            image = ImageCms.profileToProfile(image, src, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile is treated as sRGB, as browsers do
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    return np.asarray(image.convert("RGB"))


def decode_rgb(data: bytes) -> np.ndarray:
    """Decode any output (JPEG, PNG, WebP, AVIF) to an sRGB RGB array, oriented as a browser shows it."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return to_srgb_rgb(ImageOps.exif_transpose(image))


def load_source(data: bytes) -> Image.Image:
    """The full-resolution source as the reference sees it: decoded without draft, auto-oriented, sRGB RGB."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return Image.fromarray(to_srgb_rgb(ImageOps.exif_transpose(image)))


def reference(source: Image.Image, width: int, height: int,
              window: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The ideal output of `width` x `height`: one Lanczos resize from the full source (no reducing_gap
    shortcut), shared by both backends so they are scored against the same target. `window`: the part of the
    upright source the output shows (`pipeline.Result.window`: a `cover` crop), resampled from exactly there."""
    box = None if window is None or window == (0, 0, *source.size) else window
    if source.size == (width, height) and box is None:
        return np.asarray(source)
    return np.asarray(source.resize((width, height), Image.Resampling.LANCZOS, box=box))
