"""Per-image quality: the edge's scores (resizer.image.quality_probe) against their numpy twins on real photos, the
oracle, fold splits by image, and the rules' cross-validation on synthetic ladders whose answers are known."""

import numpy as np
import pandas as pd
import pytest
from conftest import modules_imported_by

from resizer.image import quality_probe as qp
from resizer.image.pipeline import render_variants
from resizer_bench import metrics
from resizer_bench import perimage as P
from resizer_bench.sweep import with_quality


def _vips_array(image) -> np.ndarray:
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))


@pytest.fixture(scope="module")
def rendered(real_photos, config):
    """(reference pyvips image, {format: encoded bytes}) for sm and md of two real photos: the pixels the encoder
    was handed (a lossless PNG of them) and low-quality AVIF and WebP outputs of the same pixels."""
    import pyvips

    out = []
    for path in real_photos[:2]:
        data = path.read_bytes()
        for name in ("sm", "md"):
            variant = config.variant(name)
            png, avif, webp = render_variants(data, [(variant, "png"), (with_quality(variant, "avif", 45), "avif"),
                                                     (with_quality(variant, "webp", 60), "webp")])
            ref = pyvips.Image.new_from_buffer(png.data, "").copy_memory()
            out.append((f"{path.name}:{name}", ref, {"avif": avif.data, "webp": webp.data}))
    return out


def test_fast_stats_vips_equal_numpy(rendered):
    import pyvips

    for _, ref, outputs in rendered:
        for data in outputs.values():
            got = qp.fast_stats("vips", ref, data)
            want = P.fast_stats_numpy(_vips_array(ref), _vips_array(pyvips.Image.new_from_buffer(data, "")))
            for key in qp.STATS:
                assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key


def test_s2_score_vips_equals_metrics(rendered):
    """libvips SSIMULACRA2 (the kept terms) = the workbench's numpy port, 6-scale equivalent, same decode."""
    import pyvips

    for label, ref, outputs in rendered:
        scorer = metrics.Ssimulacra2(_vips_array(ref)[..., :3].copy(), pad_scales=True)
        for fmt, data in outputs.items():
            dist = _vips_array(pyvips.Image.new_from_buffer(data, ""))[..., :3].copy()
            want = metrics.equivalent_score(scorer(dist), len(scorer.levels))
            assert qp.s2_score(ref, data) == pytest.approx(want, abs=0.02), (label, fmt)


def test_s2_score_identical_is_the_top_of_the_scale(rendered):
    for _, ref, _ in rendered:
        scales = metrics.s2_scales(ref.height, ref.width)
        top = metrics.equivalent_score(100.0, scales)  # 100, restated for outputs with fewer than 5 scales
        # float32 rounding leaves ~1e-5 of error terms, which the power 0.63 near the top turns into < 0.1 point
        assert qp.s2_score(ref, ref.pngsave_buffer()) == pytest.approx(top, abs=0.1)


def test_quality_probe_imports_no_numpy():
    assert modules_imported_by("resizer.image.quality_probe", ("numpy", "pyvips", "PIL")) == []


# --- oracle, folds, the fixed baseline ----------------------------------------------------------------------

def test_needed_index_is_the_start_of_the_passing_tail():
    s2 = np.array([[60, 71, 69, 72, 75],   # passes at 1 but dips at 2: the tail starts at 3
                   [71, 72, 73, 74, 75],   # all pass
                   [50, 55, 60, 65, 69]])  # never: the top
    assert P.needed_index(s2, 70).tolist() == [3, 0, 4]


def test_image_folds_keep_groups_together_and_fill_every_fold():
    files = [f"img{i:02d}.jpg" for i in range(23)]
    groups = {"img00.jpg": "a", "img01.jpg": "a", "img02.jpg": "a", "img05.jpg": "b", "img06.jpg": "b"}
    folds = P.image_folds(files, 5, groups=groups, min_test=4)
    assert set(folds) == set(files)
    assert len({folds["img00.jpg"], folds["img01.jpg"], folds["img02.jpg"]}) == 1
    assert folds["img05.jpg"] == folds["img06.jpg"]
    sizes = pd.Series(folds).value_counts()
    assert len(sizes) == 5 and sizes.min() >= 4
    assert len(set(P.image_folds(files, 10, min_test=5).values())) == 4  # k shrinks to keep 5 per fold


def test_fixed_bytes_interpolates_between_ladder_qualities():
    curve = pd.DataFrame(dict(quality=[50, 60, 70], total=[100.0, 200.0, 400.0], p=[60.0, 68.0, 72.0],
                              envelope=[60.0, 68.0, 72.0]))
    assert P.fixed_bytes_at(curve, 70.0) == (300.0, 65.0)
    assert P.fixed_bytes_at(curve, 55.0) == (100.0, 50.0)
    assert np.isnan(P.fixed_bytes_at(curve, 80.0)[0])


# --- rules on synthetic ladders ------------------------------------------------------------------------------

def synthetic(score_noise: float, informative: bool, n: int = 40, seed: int = 1) -> pd.DataFrame:
    """Images whose SSIMULACRA2 curves are the same sigmoid-ish line shifted by a per-image offset (needed
    quality spread ~ +-12), bytes growing exponentially with quality. The edge score `s2_edge` is the true
    score plus noise (informative) or a per-image random curve unrelated to the offset (the negative control)."""
    rng = np.random.default_rng(seed)
    q = np.arange(20, 96, 3)
    rows = []
    for i in range(n):
        shift = rng.normal(0, 8)
        size = rng.uniform(0.5, 2.0)
        fake = rng.normal(0, 8)  # what the uninformative score "believes" the shift is
        for quality in q:
            s2 = 40 + 0.6 * (quality - 20) - shift
            edge = (s2 if informative else 40 + 0.6 * (quality - 20) - fake) + rng.normal(0, score_noise)
            rows.append(dict(file=f"img{i:02d}", variant="md", format="avif", quality=int(quality),
                             bytes=1000 * size * np.exp(quality / 25), s2_equiv=s2, s2_edge=edge))
    return pd.DataFrame(rows)


RULES = [P.Fixed(), P.Threshold(score="s2_edge"), P.ProbeMap(score="s2_edge"), P.ProbeVerify(score="s2_edge")]


def _summary(frame):
    cv = P.cross_validate(frame, RULES, k=5)
    return P.summarize(cv, frame).set_index("rule")


def test_rules_trained_on_noise_do_not_beat_the_fixed_quality():
    table = _summary(synthetic(score_noise=0.5, informative=False))
    for rule in ("threshold[s2_edge,exact]", "probemap[s2_edge]", "probeverify[s2_edge]"):
        assert table.loc[rule, "saving"] < 0.03, table.loc[rule].to_dict()
    assert table.loc["fixed", "ceiling_saving"] > 0.25  # the headroom is there; noise cannot find it


def test_rules_with_an_informative_score_find_most_of_the_headroom():
    table = _summary(synthetic(score_noise=0.5, informative=True))
    ceiling = table.loc["fixed", "ceiling_saving"]
    assert ceiling > 0.25
    assert table.loc["threshold[s2_edge,exact]", "saving"] > 0.7 * ceiling
    assert table.loc["probeverify[s2_edge]", "saving"] > 0.4 * ceiling
    # the fixed rule, cross-validated, cannot beat the best fixed quality on the test images themselves
    assert table.loc["fixed", "saving"] < 0.03


def test_needed_quality_table():
    frame = synthetic(0.5, True, n=5)
    table = P.needed_quality(frame)
    assert len(table) == 5 and table.reached.all()
    assert (table.score >= P.TARGET).all()


def test_fast_score_is_s2_score_on_vips_and_refused_elsewhere(rendered):
    _, ref, outputs = rendered[1]
    assert qp.fast_score("vips", ref, outputs["webp"]) == qp.s2_score(ref, outputs["webp"])
    with pytest.raises(NotImplementedError):
        qp.fast_score("pillow", ref, outputs["webp"])


def test_p10_ceiling_lets_the_quantiles_share_drop_by_the_slack_and_no_more():
    """11 images, one score step of 2 per ladder quality: the 10 % quantile lets floor(0.1 * 10) = 1 image fall
    below the target, and the one that saves most (the largest) is the one that drops, by at most the slack."""
    qualities = np.arange(20, 96, 5)
    offsets = np.arange(11) * 1.0  # image i needs a little more than image i - 1
    s2 = 40 + 2.0 * (qualities[None, :] - 20) / 5 * 2 - offsets[:, None]
    size = np.ones(11)
    size[7] = 10.0  # the image whose drop saves most
    ladder = P.Ladder(files=np.array([f"i{i}" for i in range(11)]), qualities=qualities,
                      bytes=size[:, None] * np.exp(qualities[None, :] / 20), s2=s2, scores={})
    need = P.needed_index(s2, 70)
    chosen = P.p10_ceiling(ladder, 70, slack=3)
    assert list(np.flatnonzero(chosen != need)) == [7]
    scores = s2[np.arange(11), chosen]
    assert P.quantile(scores) >= 70 and scores.min() >= 67 and scores[7] < 70
    assert (P.p10_ceiling(ladder, 70, slack=0) == need).all()  # no slack: the oracle itself


def test_held_out_applies_rules_fitted_on_one_library_to_another():
    """Fitted on one collection, a threshold on an informative score carries to a second one drawn alike (most
    of the headroom, p10 at the target); a fixed quality fitted on easy images fails on harder ones (the
    negative control: the held-out p10 drops below the target), which cross-validation inside one library
    could not show."""
    rules = [P.Fixed(), P.Threshold(score="s2_edge")]
    train, alike = synthetic(0.5, True, seed=1), synthetic(0.5, True, seed=2)
    table = P.summarize(P.held_out(train, alike, rules), alike).set_index("rule")
    search = table.loc["threshold[s2_edge,exact]"]
    assert search.saving > 0.6 * search.p10_ceiling_saving and search.p10 >= P.TARGET - 1
    harder = alike.assign(s2_equiv=alike.s2_equiv - 8, s2_edge=alike.s2_edge - 8)
    held = P.summarize(P.held_out(train, harder, rules), harder).set_index("rule")
    assert held.loc["fixed", "p10"] < P.TARGET - 5
    # the search measures each image, up to the top of the window it was fitted with (harder images stop there)
    assert held.loc["threshold[s2_edge,exact]", "p10"] >= P.TARGET - 2
