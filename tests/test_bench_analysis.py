"""The rate-distortion and equal-bytes tables of the quality notebook, on synthetic sweeps with known answers."""

import numpy as np
import pandas as pd

from resizer_bench import analysis


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
    pairs = analysis.equal_bytes(frame, "s2", points=5)
    np.testing.assert_allclose(pairs["diff"], 2.0)
    summary = analysis.equal_bytes_summary(pairs)
    assert summary.to_dict(orient="records") == [dict(variant="sm", format="webp", n=2, median=2.0, q25=2.0,
                                                      q75=2.0)]


def test_rd_table():
    table = analysis.rd_table(synthetic({50: (0.5, 50.0), 80: (1.0, 70.0)}), "s2")
    row = table[(table.backend == "vips") & (table.quality == 80)].iloc[0]
    assert (row.n, row.bpp, row["median"]) == (2, 1.0, 72.0)
