"""The delivery model: first views with and without Origin Shield and eagerly, and the eager verdict, on synthetic
numbers with known answers (and controls that must flip the verdict)."""

import pandas as pd
import pytest

from resizer_bench.choose import Choice, VariantChoice
from resizer_bench.cost import Prices, Traffic
from resizer_bench.delivery import Distance, Uploads, delivery_table, first_views, run_profile, shield_usd


def test_first_views_place_every_crossing():
    views = first_views(100, 2_000_000, 20_000, 20, Distance(60, 40))
    # lazy: fetch (60) + GET (60 + 2 MB at 40 MB/s = 50) + PUT (60 + 0.5); shield: one crossing with the output
    assert views == pytest.approx({"lazy_ms": 100 + 60 + 110 + 60.5, "shield_ms": 100 + 60.5, "eager_ms": 20 + 60.5})
    near = first_views(100, 2_000_000, 20_000, 20, Distance(0, float("inf")))
    assert near == {"lazy_ms": 100, "shield_ms": 100, "eager_ms": 20}  # no distance: the shield changes nothing


def test_the_shield_is_billed_per_regional_miss():
    traffic = Traffic(requests_per_month=10_000_000, hit_ratio=0.9)
    assert shield_usd(traffic, Uploads(origin_shield_per_10k=0.009)) == pytest.approx(1_000_000 / 1e4 * 0.009)


def profile(transform_ms: float, outputs: int = 1) -> pd.DataFrame:
    return pd.DataFrame([dict(variant="md", transform_ms=transform_ms, output_bytes=20_000,
                              original_bytes=2_000_000, outputs=outputs)])


def test_eager_where_the_misses_it_saves_pay_for_it_and_not_where_nobody_looks():
    traffic, prices = Traffic(variant_mix={"md": 1.0}), Prices()
    viewed = delivery_table(profile(400), traffic, Uploads(viewed_share={"md": 1.0}), Distance(), prices)
    # Lambda@Edge's GB-s costs 3.0x regular Lambda's: one output made per upload (compute, PUT, a year of
    # storage) costs less than the miss it saves; three (an upload makes every format a viewer may be sent, a
    # viewer is sent one) cost more
    assert viewed.eager.tolist() == [True] and viewed.net_usd[0] < 0
    many = delivery_table(profile(400, outputs=3), traffic, Uploads(viewed_share={"md": 1.0}), Distance(), prices)
    assert many.eager.tolist() == [False] and many.eager_usd[0] == pytest.approx(3 * viewed.eager_usd[0])
    unseen = delivery_table(profile(400), traffic, Uploads(viewed_share={"md": 0.0}), Distance(), prices)
    assert unseen.eager.tolist() == [False] and unseen.saved_usd[0] == 0  # the control: nothing saved
    budget = delivery_table(profile(400), traffic, Uploads(viewed_share={"md": 0.0}, eager_budget_usd=1e6),
                            Distance(), prices)
    assert budget.eager.tolist() == [True]  # a budget buys the first-view latency anyway
    assert viewed.eager_ms[0] < viewed.shield_ms[0] < viewed.lazy_ms[0]


def test_the_profile_reads_what_the_choice_ships():
    quality = pd.DataFrame([dict(variant="md", backend="vips", format="webp", quality=q, settings="s", bytes=b)
                            for q, b in ((70, 1000), (70, 3000), (80, 9000))])
    speed = pd.DataFrame([dict(backend="vips", variant="md", format="webp", threads=1, latency_ms_median=42.0)])
    choice = Choice("vips", "", {"md": VariantChoice("md", 5, True, "", ("webp",), qualities={"webp": 70},
                                                     settings={"webp": "s"})})
    rows = run_profile(quality, speed, choice, original_bytes=1.5e6)
    assert rows.to_dict(orient="records") == [dict(variant="md", transform_ms=42.0, output_bytes=2000.0,
                                                   original_bytes=1.5e6, outputs=2)]
    assert run_profile(quality, None, choice, original_bytes=1.5e6).empty  # no speed table: nothing to model


def test_eager_is_never_chosen_where_it_is_not_faster():
    """A miss cheaper than a pass-through (tiny outputs): eager would be slower, whatever the budget says."""
    table = delivery_table(profile(5), Traffic(variant_mix={"md": 1.0}, passthrough_ms=20),
                           Uploads(viewed_share={"md": 1.0}, eager_budget_usd=1e6), Distance(), Prices())
    assert table.eager.tolist() == [False] and table.why[0].startswith("no faster")


def test_the_decision_says_whether_to_keep_the_shield_and_what_to_make_eagerly(tmp_path):
    from resizer_bench.decision import _delivery_html
    from resizer_bench.paths import RunDir

    traffic = Traffic(variant_mix={"md": 1.0, "xl": 0.1})
    rows = pd.concat([profile(400), profile(400).assign(variant="xl")], ignore_index=True)
    run = RunDir(tmp_path / "run")
    run.write_table(delivery_table(rows, traffic, Uploads(viewed_share={"md": 1.0, "xl": 0.0}), Distance(), Prices()),
                    "delivery")
    text = _delivery_html(run, lambda label, table: label)
    assert "keep Origin Shield on" in text and "<code>md</code>" in text and "<code>xl</code>" not in text
    run.write_table(delivery_table(rows, traffic, Uploads(), Distance(0, float("inf")), Prices()), "delivery")
    assert "Origin Shield off" in _delivery_html(run, lambda label, table: label)  # no distance: no gain
