"""Quality: SSIMULACRA2 of the outputs of the sampled originals."""

import sys
from collections import defaultdict
from pathlib import Path

from benchmarks.peers.engines import Job


def score(jobs: list[Job], originals: Path, sample: set[str], progress: bool) -> None:
    """SSIMULACRA2 (resizer_bench.metrics) of every output of the sampled originals, one shared reference per
    original and output size."""
    from resizer_bench.metrics import Ssimulacra2, decode_rgb, equivalent_score, load_source, reference

    by_image = defaultdict(list)
    for job in jobs:
        if job.image in sample and not job.error:
            by_image[job.image].append(job)
    for n, (image, image_jobs) in enumerate(by_image.items(), 1):
        source = load_source((originals / image).read_bytes())
        scorers = {}
        for job in image_jobs:
            size = (job.width, job.height)
            if size not in scorers:
                scorers[size] = Ssimulacra2(reference(source, *size), pad_scales=True)
            scorer = scorers[size]
            raw = scorer(decode_rgb(Path(job.output).read_bytes()))
            job.s2_scales = len(scorer.levels)
            job.s2 = round(float(equivalent_score(raw, job.s2_scales)), 2)
        if progress:
            print(f"\r  SSIMULACRA2 {n}/{len(by_image)} originals", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)

