"""Where a variant's first view is paid: Origin Shield and eager variants, timed and priced on the run's numbers.

The bucket is `Distance` away from the viewer's regional edge cache (docs/PERFORMANCE.md, "Origin Shield and eager
variants"). The first view of an output no cache holds yet costs, with `transform_ms` the measured miss work:

    lazy, no shield   transform + three crossings: CloudFront's fetch (404), the GET of the original, the PUT
    lazy, shield      transform + one crossing carrying the output (fetch, GET and PUT are next to the bucket)
    eager, shield     a stored object passed through + one crossing carrying the output

Monthly costs (Prices; cost.Traffic for the request volume):

    Origin Shield     each request reaching it from another Region, i.e. every regional-cache miss R(1 - h)
    eager variant v   per upload, each output a viewer can be sent (its formats and the original's family) made
                      off the request path (regular Lambda GB-s), PUT and kept `keep_months`; against the edge
                      misses it saves: uploads x viewed share of v x (miss work - pass-through) at Lambda@Edge's
                      rate. Eager where the net cost is at most `eager_budget_usd`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from .choose import Choice, chosen_rows, latency_ms
from .cost import GIB, Prices, Traffic, gb_seconds

FIRST_VIEWS = ("lazy_ms", "shield_ms", "eager_ms")


@dataclass(frozen=True)
class Distance:
    """The bucket as seen from a regional edge cache: a round trip per request, then the body at a rate."""

    latency_ms: float = 60.0
    mb_per_s: float = 40.0

    def crossing_ms(self, n_bytes: float) -> float:
        return self.latency_ms + n_bytes / (self.mb_per_s * 1e6) * 1000


@dataclass(frozen=True)
class Uploads:
    """New originals and how their variants are viewed. `viewed_share[v]`: the share of uploaded originals whose
    variant v is ever viewed (an assumption: set yours); absent variants default to their share of the mix
    relative to the most requested one."""

    per_month: float = 10_000
    viewed_share: Mapping[str, float] = field(default_factory=dict)
    keep_months: float = 12  # how long an output nobody views is kept (storage, steady state)
    origin_shield_per_10k: float = 0.009  # USD; the guide gives 0.0075-0.016 by Region
    s3_put_per_1000: float = 0.005
    s3_gb_month: float = 0.023
    eager_budget_usd: float = 0.0  # eager where it costs at most this much more per month than lazy

    def viewed(self, variant: str, mix: Mapping[str, float]) -> float:
        if variant in self.viewed_share:
            return self.viewed_share[variant]
        return mix.get(variant, 0.0) / max(mix.values()) if mix else 0.0


def first_views(transform_ms: float, original_bytes: float, output_bytes: float, passthrough_ms: float,
                distance: Distance) -> dict[str, float]:
    """Modelled first-view ms of one output, each way of serving it (module docstring)."""
    return {"lazy_ms": transform_ms + distance.crossing_ms(0) + distance.crossing_ms(original_bytes)
            + distance.crossing_ms(output_bytes),
            "shield_ms": transform_ms + distance.crossing_ms(output_bytes),
            "eager_ms": passthrough_ms + distance.crossing_ms(output_bytes)}


def shield_usd(traffic: Traffic, uploads: Uploads) -> float:
    """Origin Shield's monthly request charge: every regional-cache miss reaches it."""
    return traffic.requests_per_month * (1 - traffic.hit_ratio) / 1e4 * uploads.origin_shield_per_10k


def delivery_table(profile: pd.DataFrame, traffic: Traffic, uploads: Uploads, distance: Distance,
                   prices: Prices) -> pd.DataFrame:
    """Per variant: modelled first views and the eager verdict. `profile` has one row per variant: transform_ms
    (a miss's work), output_bytes (mean served), original_bytes (mean), outputs (per upload, eager)."""
    rows = []
    for r in profile.itertuples():
        views = first_views(r.transform_ms, r.original_bytes, r.output_bytes, traffic.passthrough_ms, distance)
        made = uploads.per_month * r.outputs
        eager_usd = (gb_seconds(made, r.transform_ms, traffic.origin_memory_mb) * prices.offline_per_gb_second
                     + made / 1000 * uploads.s3_put_per_1000
                     + made * r.output_bytes / GIB * uploads.s3_gb_month * uploads.keep_months)
        viewed = uploads.per_month * uploads.viewed(r.variant, traffic.variant_mix)
        saved_gbs = (gb_seconds(viewed, r.transform_ms, traffic.origin_memory_mb)
                     - gb_seconds(viewed, traffic.passthrough_ms, traffic.origin_memory_mb))
        saved_usd = saved_gbs * prices.lambda_per_gb_second
        net = eager_usd - saved_usd
        gain = views["shield_ms"] - views["eager_ms"]
        eager = gain > 0 and net <= uploads.eager_budget_usd
        if gain <= 0:
            why = (f"no faster: a miss's work ({r.transform_ms:.0f} ms) is under a stored object's pass-through "
                   f"({traffic.passthrough_ms:.0f} ms)")
        elif net <= 0:
            why = f"saves ${-net:.2f}/month and {gain:.0f} ms off the first view"
        else:
            why = (f"{gain:.0f} ms off the first view for ${net:.2f}/month more than its misses"
                   + (" (within the budget)" if eager else " (over the budget)"))
        rows.append(dict(variant=r.variant, transform_ms=r.transform_ms, output_bytes=r.output_bytes,
                         original_bytes=r.original_bytes, outputs=r.outputs, **views, eager_usd=eager_usd,
                         saved_usd=saved_usd, net_usd=net, eager=eager, why=why))
    table = pd.DataFrame(rows, columns=["variant", "transform_ms", "output_bytes", "original_bytes", "outputs",
                                        *FIRST_VIEWS, "eager_usd", "saved_usd", "net_usd", "eager", "why"])
    table.attrs["shield_usd"] = shield_usd(traffic, uploads)
    table.attrs["distance"] = f"{distance.latency_ms:g} ms, {distance.mb_per_s:g} MB/s"
    return table


def run_profile(quality: pd.DataFrame, speed: pd.DataFrame | None, choice: Choice, original_bytes: float,
                threads: int = 1) -> pd.DataFrame:
    """The delivery profile of the chosen config from the run's tables: per variant, its first ladder format's
    median transform ms (speed table) and mean bytes as shipped (quality table), the outputs an upload makes
    eagerly (its ladder plus the original's family), and the dataset's mean original bytes. Variants the run
    lacks a measurement for are left out."""
    latency = latency_ms(speed, threads)
    rows = []
    for name, vc in choice.variants.items():
        fmt = vc.formats[0]
        shipped = chosen_rows(quality, choice, name, fmt) if fmt in vc.qualities else pd.DataFrame()
        if (choice.backend, name, fmt) not in latency or shipped.empty:
            continue
        rows.append(dict(variant=name, transform_ms=latency[choice.backend, name, fmt],
                         output_bytes=float(shipped.bytes.mean()), original_bytes=original_bytes,
                         outputs=len(vc.formats) + 1))
    return pd.DataFrame(rows, columns=["variant", "transform_ms", "output_bytes", "original_bytes", "outputs"])
