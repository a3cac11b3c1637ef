"""Full-reference scores of an encoded variant against the pixels it was encoded from, for per-image quality
(config.PerImageQuality; the pipeline's `choose_quality` step; study: resizer_bench/perimage.py,
benchmarks/perimage.py). Only the backend's own library is used (libvips operations); numpy is never imported
here. The chooser enables a rule only where its cost pays (resizer_bench/perimage_choose.py): on the corpus, at
these costs, nowhere (docs/WORKBENCH.md, "The per-image study").

`s2_score` / `fast_score`: SSIMULACRA2 itself, computed with libvips operations (the terms whose weight is
>= 0.01), restated on the 6-scale scale as the workbench's `s2_equiv`; equal to resizer_bench.metrics' numpy
port within 0.02 points on real outputs. It tracks the workbench's score (it is the same metric), but costs
~130 ms CPU at sm and ~230 ms at md (1 thread) against a whole miss of 17-70 ms.

`fast_stats` computes, in one pass over the image, statistics of BT.601 luma (and chroma) of the reference
(the resized, rendered pixels handed to the encoder) and of the decoded encode:

    ssim      mean SSIM map of luma, Wang et al. 2004 constants, an 11-tap gaussian (sigma 1.5) with replicated
              edges (0-255 scale)
    ssim_p4   4-norm of (1 - SSIM map): the worst-region weighting SSIMULACRA2 also uses
    mse_y     mean squared luma error; mse_c: mean squared Cb/Cr error (both channels averaged)
    artifact, detail_lost: SSIMULACRA2-style edge terms on luma/255, with r = (1 + |y2 - mu2|) / (1 + |y1 - mu1|) - 1:
              mean of max(r, 0) and of max(-r, 0)

A numpy twin of these formulas (`resizer_bench.perimage.fast_stats_numpy`) is the test oracle. They are cheaper
(~30 ms at sm) but do not predict SSIMULACRA2 across images: rules on them lose to the fixed quality.
"""

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import Backend

SIGMA = 1.5
RADIUS = 5  # 11 taps, as Wang et al.'s 11x11 window
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
LUMA = (0.299, 0.587, 0.114)
CB = (-0.168736, -0.331264, 0.5)
CR = (0.5, -0.418688, -0.081312)
STATS = ("ssim", "ssim_p4", "mse_y", "mse_c", "artifact", "detail_lost")


def gaussian_taps(sigma: float = SIGMA, radius: int = RADIUS) -> list[float]:
    """The normalised 1-D gaussian both implementations convolve with."""
    w = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-radius, radius + 1)]
    total = sum(w)
    return [x / total for x in w]


def psnr(mse: float) -> float:
    """PSNR in dB on the 0-255 scale (capped at 100 for identical images)."""
    return 100.0 if mse <= 1e-10 else min(100.0, 10 * math.log10(255 * 255 / mse))


def fast_stats(backend: "str | Backend", reference: Any, encoded: bytes) -> dict[str, float]:
    """The statistics above for `encoded` (bytes of any format the backend decodes) against `reference` (the
    backend's image that was encoded: same size, 8-bit sRGB, alpha flattened on white for scoring)."""
    name = backend if isinstance(backend, str) else backend.name
    if name == "vips":
        return _vips_stats(reference, encoded)
    if name == "pillow":
        return _pillow_stats(reference, encoded)
    raise ValueError(f"unknown backend {name!r}")


def fast_score(backend: "str | Backend", reference: Any, encoded: bytes) -> float:
    """The score a per-image rule thresholds: SSIMULACRA2 (6-scale equivalent) in libvips, `s2_score`."""
    name = backend if isinstance(backend, str) else backend.name
    if name != "vips":
        raise NotImplementedError(f"the {name} backend has no fast score (libvips only)")
    return s2_score(reference, encoded)


# --- libvips ------------------------------------------------------------------------------------------------

def _vips_rgb(image: Any, sample_format: str = "float") -> Any:
    """Three bands of `sample_format`, alpha flattened on white, grey spread to RGB: what both scores compare."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return image[:3].cast(sample_format)


def _vips_decoded(reference: Any, encoded: bytes) -> Any:
    """`encoded` decoded, refused unless it has `reference`'s size (scores compare pixel for pixel)."""
    import pyvips

    decoded = pyvips.Image.new_from_buffer(encoded, "", access="sequential")
    if (decoded.width, decoded.height) != (reference.width, reference.height):
        raise ValueError(f"sizes differ: {decoded.width}x{decoded.height} vs {reference.width}x{reference.height}")
    return decoded


def _vips_stats(reference: Any, encoded: bytes) -> dict[str, float]:
    import pyvips

    decoded = _vips_decoded(reference, encoded)
    ref, dist = _vips_rgb(reference), _vips_rgb(decoded)
    y = ref.bandjoin(dist).recomb([[*LUMA, 0, 0, 0], [0, 0, 0, *LUMA]]).copy_memory()  # y1, y2
    y1, y2 = y[0], y[1]
    chroma = (ref - dist).recomb([list(CB), list(CR)])
    mask = pyvips.Image.new_from_list([gaussian_taps()], scale=1)
    # one separable blur of the five planes SSIM needs; convsep extends edges by copying (numpy's "nearest")
    planes = y.bandjoin([y1 * y1, y2 * y2, y1 * y2]).convsep(mask, precision="float").copy_memory()
    mu1, mu2 = planes[0], planes[1]
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11, s22, s12 = planes[2] - mu11, planes[3] - mu22, planes[4] - mu12
    ssim = (((mu12 * 2 + C1) * (s12 * 2 + C2)) / ((mu11 + mu22 + C1) * (s11 + s22 + C2))).copy_memory()
    d2 = (1 - ssim) ** 2
    ratio = (((y2 - mu2).abs() / 255 + 1) / ((y1 - mu1).abs() / 255 + 1) - 1).copy_memory()
    diff = y1 - y2
    c2 = chroma * chroma
    bands = [ssim, d2 * d2, diff * diff, (c2[0] + c2[1]) / 2, (ratio > 0).ifthenelse(ratio, 0),
             (ratio < 0).ifthenelse(-ratio, 0)]
    stats = bands[0].bandjoin(bands[1:]).stats()  # one pass; row b + 1 holds band b's statistics
    means = [stats(4, b + 1)[0] for b in range(len(bands))]  # column 4 = mean
    return _finish(means)


def _finish(means: Sequence[float]) -> dict[str, float]:
    ssim, d4, mse_y, mse_c, artifact, detail = means
    return dict(ssim=ssim, ssim_p4=max(d4, 0.0) ** 0.25, mse_y=mse_y, mse_c=mse_c, artifact=artifact,
                detail_lost=detail)


# --- Pillow -------------------------------------------------------------------------------------------------

def _pillow_stats(reference: Any, encoded: bytes) -> dict[str, float]:
    raise NotImplementedError("the Pillow backend's fast score is not implemented")


# --- SSIMULACRA2 in libvips ---------------------------------------------------------------------------------
# The arithmetic of resizer_bench.metrics.Ssimulacra2 (the `ssimulacra2` package's port of libjxl's metric) with
# libvips operations: sRGB -> linear (a 256-entry table), positive XYB, 6 scales halved in linear light, per scale
# and channel the SSIM term (1- and 4-norms) and the edge terms (ringing, blurring), weighted by the 108 weights
# and mapped to 0-100. Missing coarse scales (short side < 8 px) count as error-free and scores with fewer than
# 5 scales are restated on the 6-scale scale (metrics.quality_score + metrics.equivalent_score), so the number
# is the workbench's `s2_equiv`, measured against the pixels the encoder was handed.

S2_WEIGHTS = (
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
    0.0, 0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666, 0.0,
    0.0007989109436015163, 0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0,
    0.0007289346991508072, 0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0,
    0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
    0.0, 0.0, 0.0, 34.77906344483772, 44.835625328877896, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0008680556573291698, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0,
    0.0020827005846636437, 0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0,
    95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493, 171.2667255897307,
    0.9807858872435379,
    0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
)
S2_CALIBRATION = {3: (-24.856, 1.2511), 4: (-11.094, 1.1028)}  # = resizer_bench.metrics.S2_CALIBRATION
S2_SCALES = 6
S2_KC2 = 0.0009
S2_SIGMA, S2_RADIUS = 1.5, 5  # scipy's gaussian_filter1d(sigma=1.5, truncate=3.33): 11 taps
_OPSIN = ((0.3, 0.622, 0.078), (0.23, 0.692, 0.078), (0.24342268924547819, 0.20476744424496821, 0.55180986650955360))
_OPSIN_BIAS = 0.0037930732552754493


def _srgb_to_linear_lut() -> Any:
    from array import array

    import pyvips

    values = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in (i / 255 for i in range(256))]
    return pyvips.Image.new_from_memory(array("f", values).tobytes(), 256, 1, 1, "float")


def _xyb(linear: Any) -> Any:
    bias_cbrt = _OPSIN_BIAS ** (1 / 3)
    m = _clip0(linear.recomb([list(r) for r in _OPSIN]) + _OPSIN_BIAS)
    m = m ** (1 / 3) - bias_cbrt
    # x = 7 (m0 - m1) + 0.42; y = (m0 + m1) / 2 + 0.01; b = m2 - (m0 + m1) / 2 + 0.55
    return m.recomb([[7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0]]).linear([1, 1, 1], [0.42, 0.01, 0.55])


def _clip0(im: Any) -> Any:
    return (im > 0).ifthenelse(im, 0)


def _s2_blur(im: Any, h_mask: Any, v_mask: Any) -> Any:
    """The package's blur: zeros beyond the left/right edges, mirrored beyond top/bottom."""
    r, w, h = S2_RADIUS, im.width, im.height
    out = im.embed(r, 0, w + 2 * r, h, extend="black").conv(h_mask, precision="float").crop(r, 0, w, h)
    return out.embed(0, r, w, h + 2 * r, extend="mirror").conv(v_mask, precision="float").crop(0, r, w, h)


def _halve(im: Any) -> Any:
    w, h = im.width, im.height
    if w % 2 or h % 2:
        im = im.embed(0, 0, w + w % 2, h + h % 2, extend="copy")
    return im.shrink(2, 2)


S2_MIN_WEIGHT = 0.01  # terms weighted below this are skipped (their sum moves the score < 0.01 points)


def _s2_plan() -> list[tuple[list[int], list[tuple[float, int, int, int]]]]:
    """Per scale: the channels (0 X, 1 Y, 2 B) with a term weighted >= S2_MIN_WEIGHT, and those terms as
    (weight, channel, map, norm): map 0 ssim, 1 ringing (artifact), 2 blurring (detail lost); norm 0 mean, 1 4-norm."""
    plan = []
    for scale in range(S2_SCALES):
        terms = []
        for c in range(3):
            for n in range(2):
                i = ((c * S2_SCALES + scale) * 2 + n) * 3
                terms += [(S2_WEIGHTS[i + k], c, k, n) for k in range(3) if S2_WEIGHTS[i + k] >= S2_MIN_WEIGHT]
        plan.append((sorted({c for _, c, _, _ in terms}), terms))
    while plan and not plan[-1][1]:
        plan.pop()
    return plan


def s2_score(reference: Any, encoded: bytes) -> float:
    """SSIMULACRA2 (6-scale equivalent, see above) of `encoded` against `reference` (a pyvips image, 8-bit sRGB):
    only the terms S2_MIN_WEIGHT keeps are computed (Y alone at full size, no 6th scale)."""
    import pyvips

    decoded = _vips_decoded(reference, encoded)
    lut = _srgb_to_linear_lut()
    taps = gaussian_taps(S2_SIGMA, S2_RADIUS)
    h_mask = pyvips.Image.new_from_list([taps], scale=1)
    v_mask = pyvips.Image.new_from_list([[t] for t in taps], scale=1)
    # both images side by side in one: every operation below runs once for the pair
    lin = _vips_rgb(reference, "uchar").bandjoin(_vips_rgb(decoded, "uchar")).maplut(lut).copy_memory()
    scales = 0
    total = 0.0
    for channels, terms in _s2_plan():
        if lin.width < 8 or lin.height < 8:
            break
        scales += 1
        if terms:
            total += _s2_scale_terms(lin, channels, terms, h_mask, v_mask)
        lin = _halve(lin).copy_memory()
    while scales < S2_SCALES and lin.width >= 8 and lin.height >= 8:  # scales with no kept term still count
        scales += 1
        lin = _halve(lin)
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total ** 2 + 6.248496625763138e-05 * total ** 3
    score = 100.0 - 10.0 * total ** 0.6276336467831387 if total > 0 else 100.0
    if scales in S2_CALIBRATION:
        a, b = S2_CALIBRATION[scales]
        score = a + b * score
    return score


# XYB rows from the opsin cube roots m0, m1, m2 (x = 7 (m0 - m1) + 0.42, y = (m0 + m1) / 2 + 0.01,
# b = m2 - (m0 + m1) / 2 + 0.55)
_XYB_ROWS = ([7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0])
_XYB_OFFSETS = (0.42, 0.01, 0.55)


def _s2_scale_terms(lin: Any, channels: list[int], terms: list[tuple[float, int, int, int]], h_mask: Any,
                    v_mask: Any) -> float:
    k = len(channels)
    # opsin mixes for both images (6 bands: 3 per image), cube roots, then the kept XYB channels of each
    mix = lin.recomb([list(r) + [0.0] * 3 for r in _OPSIN] + [[0.0] * 3 + list(r) for r in _OPSIN])
    m = _clip0(mix + _OPSIN_BIAS) ** (1 / 3) - _OPSIN_BIAS ** (1 / 3)
    pick = ([[*_XYB_ROWS[c], 0.0, 0.0, 0.0] for c in channels] + [[0.0, 0.0, 0.0, *_XYB_ROWS[c]] for c in channels])
    offsets = [_XYB_OFFSETS[c] for c in channels] * 2
    xyb = m.recomb(pick).linear([1.0] * (2 * k), offsets)  # bands: img1 channels, then img2 channels
    img1, img2 = xyb[0:k], xyb[k:2 * k]
    planes = xyb.bandjoin([img1 * img1, img2 * img2, img1 * img2]).copy_memory()
    blurred = _s2_blur(planes, h_mask, v_mask).copy_memory()
    mu1, mu2, b11, b22, b12 = (blurred[i * k:(i + 1) * k] for i in range(5))
    img1, img2 = planes[0:k], planes[k:2 * k]
    mu12 = mu1 * mu2
    num_m = 1 - (mu1 - mu2) ** 2
    d = _clip0(1 - num_m * ((b12 - mu12) * 2 + S2_KC2) / (b11 - mu1 * mu1 + b22 - mu2 * mu2 + S2_KC2))
    ratio = ((img2 - mu2).abs() + 1) / ((img1 - mu1).abs() + 1) - 1
    art, det = _clip0(ratio), _clip0(ratio * -1)
    maps = [d, art, det]
    quads = [mp * mp for mp in maps]
    quads = [q * q for q in quads]
    stats = maps[0].bandjoin(maps[1:] + quads).stats()  # band (norm * 3 + map) * k + channel index
    total = 0.0
    for weight, c, kind, norm in terms:
        value = stats(4, (norm * 3 + kind) * k + channels.index(c) + 1)[0]
        total += weight * (max(value, 0.0) ** 0.25 if norm else abs(value))
    return total
