"""Monthly cost of serving variants through CloudFront + Lambda@Edge, from a traffic profile and measured numbers.

Per month, with R requests, hit ratio h, misses M = R(1 - h), share s of misses already stored in S3:
- viewer-request function: R invocations of `viewer_ms` at `viewer_memory_mb` (it runs on every request);
- origin-response function: M invocations; M(1 - s) x mix[v] generate variant v (measured miss latency), M s
  pass a stored object through (`passthrough_ms`); a share `cold_start_share` of them also pay the import;
- Lambda@Edge: requests x price + GB-seconds x price, duration billed per started ms (ceil);
- CloudFront: egress R x mean response bytes (GiB, as AWS bills "GB") and HTTPS requests.
Free tiers are ignored. Prices are parameters (us-east-1 defaults, from ../shared/lambda-edge-facts.md).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pandas as pd

from resizer.cfn import ORIGIN_MEMORY_MB
from resizer.edge.runtime import MB_PER_VCPU

GIB = 2**30


@dataclass(frozen=True)
class Prices:
    lambda_per_million_requests: float = 0.60
    lambda_per_gb_second: float = 0.00005001
    egress_per_gb: float = 0.085
    cloudfront_per_10k_requests: float = 0.01
    # work off the request path (`resizer warm`'s quality searches): regular Lambda, x86, one vCPU's memory
    offline_per_gb_second: float = 0.0000166667


@dataclass(frozen=True)
class Traffic:
    requests_per_month: float = 10_000_000
    hit_ratio: float = 0.90  # CloudFront cache hits / requests
    stored_share: float = 0.50  # of the misses: the variant already exists in S3 (no transform)
    variant_mix: Mapping[str, float] = field(default_factory=lambda: {"sm": 0.4, "md": 0.3, "lg": 0.2, "xl": 0.1})
    origin_memory_mb: int = ORIGIN_MEMORY_MB  # the template's default
    viewer_memory_mb: int = 128  # the viewer-request quota
    viewer_ms: float = 1.0
    passthrough_ms: float = 20.0  # origin-response when the object was found in S3
    cold_start_share: float = 0.02  # origin-response invocations that start a new execution environment

    @property
    def made_share(self) -> float:
        """The share of requests that make a new output: cache misses whose variant is not stored yet."""
        return (1 - self.hit_ratio) * (1 - self.stored_share)


def billed_ms(ms: float) -> int:
    """Lambda bills every started millisecond."""
    return max(1, math.ceil(ms - 1e-9))


def gb_seconds(invocations: float, ms: float, memory_mb: int) -> float:
    return invocations * billed_ms(ms) / 1000 * memory_mb / 1024


def monthly_cost(traffic: Traffic, *, miss_ms: Mapping[str, float], response_bytes: Mapping[str, float],
                 import_ms: float = 0.0, prices: Prices = Prices()) -> dict[str, float]:
    """Line items and total (USD/month). miss_ms: variant -> ms to generate it (transform + S3 round trips);
    response_bytes: variant -> mean bytes served. The variant mix is normalised over its own keys."""
    mix = _normalised(traffic.variant_mix)
    r = traffic.requests_per_month
    misses = r * (1 - traffic.hit_ratio)
    generated = r * traffic.made_share
    viewer_gbs = gb_seconds(r, traffic.viewer_ms, traffic.viewer_memory_mb)
    origin_gbs = (sum(gb_seconds(generated * share, miss_ms[v], traffic.origin_memory_mb) for v, share in mix.items())
                  + gb_seconds(misses * traffic.stored_share, traffic.passthrough_ms, traffic.origin_memory_mb)
                  + (gb_seconds(misses * traffic.cold_start_share, import_ms, traffic.origin_memory_mb)
                     if import_ms > 0 else 0.0))
    mean_bytes = sum(share * response_bytes[v] for v, share in mix.items())
    items = {
        "lambda_requests": (r + misses) / 1e6 * prices.lambda_per_million_requests,
        "lambda_viewer_compute": viewer_gbs * prices.lambda_per_gb_second,
        "lambda_origin_compute": origin_gbs * prices.lambda_per_gb_second,
        "cloudfront_egress": r * mean_bytes / GIB * prices.egress_per_gb,
        "cloudfront_requests": r / 1e4 * prices.cloudfront_per_10k_requests,
    }
    items["total"] = sum(items.values())
    return items


def _normalised(mix: Mapping[str, float]) -> dict[str, float]:
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("the variant mix must have a positive total")
    return {v: share / total for v, share in mix.items()}


def cpu_factor(memory_mb: int) -> float:
    """How much slower CPU-bound work runs at `memory_mb` than on one full core (what the speed table measures
    at 1 thread)."""
    return max(1.0, MB_PER_VCPU / memory_mb)  # Lambda's CPU grows with memory: one full vCPU at MB_PER_VCPU


def compare(profile: pd.DataFrame, traffic: Traffic, *, import_ms: Mapping[str, float] | None = None,
            prices: Prices = Prices()) -> pd.DataFrame:
    """Monthly cost of the original product vs the chosen config (rows), line items as columns.

    `profile`: per variant bytes_base/bytes_new and ms_base/ms_new (choose.serving_profile); the traffic's
    variant mix is restricted to the profile's variants. Transform ms are scaled by `cpu_factor` of the origin
    memory. import_ms: {"base": ms, "new": ms} paid by the cold-start share of origin invocations.
    """
    profile = profile.set_index("variant")
    mix = {v: w for v, w in traffic.variant_mix.items() if v in profile.index}
    scaled = cpu_factor(traffic.origin_memory_mb)
    limited = replace(traffic, variant_mix=mix)
    rows = {}
    for which in ("base", "new"):
        rows["original product" if which == "base" else "chosen config"] = monthly_cost(
            limited, miss_ms={v: profile.loc[v, f"ms_{which}"] * scaled for v in mix},
            response_bytes={v: profile.loc[v, f"bytes_{which}"] for v in mix},
            import_ms=(import_ms or {}).get(which, 0.0), prices=prices)
    return pd.DataFrame(rows).T
