"""The monthly cost model on an example computed by hand."""

import pytest

from resizer_bench.cost import GIB, Prices, Traffic, billed_ms, monthly_cost


def test_billed_per_started_millisecond():
    assert billed_ms(0.2) == 1 and billed_ms(12.0) == 12 and billed_ms(12.01) == 13


def test_hand_computed_month():
    traffic = Traffic(requests_per_month=1_000_000, hit_ratio=0.9, stored_share=0.5,
                      variant_mix={"sm": 3, "md": 1}, origin_memory_mb=2048, viewer_memory_mb=128, viewer_ms=0.4,
                      passthrough_ms=10, cold_start_share=0.1)
    prices = Prices(lambda_per_million_requests=0.60, lambda_per_gb_second=0.00005001, egress_per_gb=0.085,
                    cloudfront_per_10k_requests=0.01)
    cost = monthly_cost(traffic, miss_ms={"sm": 99.5, "md": 300}, response_bytes={"sm": 4000, "md": 20000},
                        import_ms=250, prices=prices)
    # 1M requests, 100k misses: 50k stored (10 ms), 50k generated: 37.5k sm (100 ms billed), 12.5k md (300 ms);
    # 10k cold starts pay 250 ms more. Viewer: 1M x 1 ms at 0.125 GB.
    viewer_gbs = 1_000_000 * 0.001 * 0.125  # 125
    origin_gbs = (37_500 * 0.100 + 12_500 * 0.300 + 50_000 * 0.010 + 10_000 * 0.250) * 2  # 21_000
    mean_bytes = 0.75 * 4000 + 0.25 * 20000  # 8000
    expected = {
        "lambda_requests": 1.1 * 0.60,
        "lambda_viewer_compute": viewer_gbs * 0.00005001,
        "lambda_origin_compute": origin_gbs * 0.00005001,
        "cloudfront_egress": 1_000_000 * mean_bytes / GIB * 0.085,
        "cloudfront_requests": 100 * 0.01,
    }
    for item, value in expected.items():
        assert cost[item] == pytest.approx(value), item
    assert cost["lambda_origin_compute"] == pytest.approx(1.05021)
    assert cost["cloudfront_egress"] == pytest.approx(0.633299, rel=1e-5)
    assert cost["total"] == pytest.approx(sum(expected.values()))


def test_mix_must_have_weight():
    with pytest.raises(ValueError):
        monthly_cost(Traffic(variant_mix={"sm": 0}), miss_ms={"sm": 1}, response_bytes={"sm": 1})


def test_compare_scales_transform_time_by_lambda_cpu_share():
    import pandas as pd

    from resizer_bench.cost import compare, cpu_factor

    assert cpu_factor(1769) == 1.0 and cpu_factor(3008) == 1.0 and cpu_factor(884.5) == 2.0
    profile = pd.DataFrame([dict(variant="sm", bytes_base=8000, bytes_new=2000, ms_base=50.0, ms_new=25.0)])
    traffic = Traffic(requests_per_month=1e6, hit_ratio=0.0, stored_share=0.0, variant_mix={"sm": 1, "xl": 5},
                      origin_memory_mb=884.5, viewer_ms=1, cold_start_share=0.0)
    table = compare(profile, traffic, prices=Prices(cloudfront_per_10k_requests=0))
    origin = table["lambda_origin_compute"]
    # every request misses and generates sm (xl is not in the profile): 1M x 100 ms (50 ms x 2) x 0.8638 GB
    assert origin["original product"] == pytest.approx(1e6 * 0.100 * 884.5 / 1024 * 0.00005001)
    assert origin["chosen config"] == pytest.approx(origin["original product"] / 2)
    assert table.loc["chosen config", "cloudfront_egress"] == pytest.approx(
        table.loc["original product", "cloudfront_egress"] / 4)
