"""The small-image study on a real photo: the scores it computes, the calibration fitted from them, and when the
quality notebook trusts the dataset's own fit."""

import numpy as np
import pandas as pd

from resizer_bench import metrics, study
from resizer_bench.datasets import load_dataset


def test_study_and_calibration_on_one_photo(tmp_path):
    ds = load_dataset("bundled", cache_dir=tmp_path)
    scores = pd.DataFrame(study.study_image(study.StudyTask(str(ds.path("coffee.png")), "coffee.png",
                                                            (100, 400), (30, 60, 90))))
    assert scores.groupby("box").scales.first().to_dict() == {100: 4, 400: 6}
    full = scores[scores.box == 400]
    assert np.allclose(full.trunc5, full.native) and np.allclose(full.padded, full.native)
    assert (full.trunc4 > full.native).all()  # missing coarse scales count as error-free: scores rise
    calibration, diag = study.calibrate_scales(scores)
    assert set(calibration) == {3, 4} and list(diag.scales) == [3, 4, 5]
    evidence = study.study_evidence(scores, calibration).set_index(["box", "metric"])
    assert evidence.loc[(100, "equivalent"), "rho"] == 1.0


def test_the_datasets_own_fit_needs_enough_full_scale_images():
    fitted = {3: (-20.0, 1.2), 4: (-10.0, 1.1)}
    enough = study.MIN_CALIBRATION_IMAGES
    assert study.choose_calibration(pd.DataFrame(), fitted, enough) == (fitted, f"fitted on this dataset ({enough} "
                                                                                "images)")
    calibration, source = study.choose_calibration(pd.DataFrame(), fitted, enough - 1)
    assert calibration == metrics.S2_CALIBRATION and source.startswith("packaged development-corpus fit")
