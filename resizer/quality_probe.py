"""A fast full-reference score of an encoded variant against the pixels it was encoded from, for per-image
quality at the edge (SSIMULACRA2 is too slow there and needs numpy). Only the backend's own library is used:
libvips operations for the vips backend, Pillow for the Pillow backend; numpy is never imported here.

`fast_stats` computes, in one pass over the image, statistics of BT.601 luma (and chroma) of the reference
(the resized, rendered pixels handed to the encoder) and of the decoded encode:

    ssim      mean SSIM map of luma, Wang et al. 2004 constants, an 11-tap gaussian (sigma 1.5) with replicated
              edges (0-255 scale)
    ssim_p4   4-norm of (1 - SSIM map): the worst-region weighting SSIMULACRA2 also uses
    mse_y     mean squared luma error; mse_c: mean squared Cb/Cr error (both channels averaged)
    artifact, detail_lost: SSIMULACRA2-style edge terms on luma/255, with r = (1 + |y2 - mu2|) / (1 + |y1 - mu1|) - 1:
              mean of max(r, 0) and of max(-r, 0)

and `fast_score` is the one the per-image rule thresholds (see resizer_bench/perimage.py for its calibration).
A numpy twin of these formulas (`resizer_bench.perimage.fast_stats_numpy`) is the test oracle.
"""

import math

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


def fast_stats(backend, reference, encoded: bytes) -> dict[str, float]:
    """The statistics above for `encoded` (bytes of any format the backend decodes) against `reference` (the
    backend's image that was encoded: same size, 8-bit sRGB, alpha flattened on white for scoring)."""
    name = backend if isinstance(backend, str) else backend.name
    if name == "vips":
        return _vips_stats(reference, encoded)
    if name == "pillow":
        return _pillow_stats(reference, encoded)
    raise ValueError(f"unknown backend {name!r}")


def fast_score(backend, reference, encoded: bytes) -> float:
    """The score the per-image rule thresholds: mean luma SSIM (see module doc)."""
    return fast_stats(backend, reference, encoded)["ssim"]


# --- libvips ------------------------------------------------------------------------------------------------

def _vips_rgb(image):
    import pyvips  # noqa: F401  (the vips backend has already imported it)

    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return image[:3].cast("float")


def _vips_stats(reference, encoded: bytes) -> dict[str, float]:
    import pyvips

    decoded = pyvips.Image.new_from_buffer(encoded, "", access="sequential")
    if (decoded.width, decoded.height) != (reference.width, reference.height):
        raise ValueError(f"sizes differ: {decoded.width}x{decoded.height} vs {reference.width}x{reference.height}")
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


def _finish(means) -> dict[str, float]:
    ssim, d4, mse_y, mse_c, artifact, detail = means
    return dict(ssim=ssim, ssim_p4=max(d4, 0.0) ** 0.25, mse_y=mse_y, mse_c=mse_c, artifact=artifact,
                detail_lost=detail)


# --- Pillow -------------------------------------------------------------------------------------------------

def _pillow_stats(reference, encoded: bytes) -> dict[str, float]:
    raise NotImplementedError("the Pillow backend's fast score is not implemented")
