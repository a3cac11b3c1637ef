"""`resizer warm` against a moto S3 holding a few hundred originals: one process vs two, a Dask cluster, a rerun.

    .venv/bin/python benchmarks/warm.py                      # 300 originals from ../shared/corpus, JPEG -> WebP
    .venv/bin/python benchmarks/warm.py --originals 100 --corpus ~/photos

The originals are the corpus JPEGs resized (long side 800-3000 px, drawn with a fixed seed) and re-encoded at
JPEG quality 70-95, so sizes vary as a library's do. Each run is the real CLI in a fresh interpreter, warming
every variant in WebP (`--formats webp`); the derived objects are deleted between runs and each run's keys and
bytes are compared with the first's. Printed: each command, its wall time and summary, the --jobs 2 speed-up
(the goal is at least 1.5x on 2 cores), whether the Dask run stored identical keys and bytes, and that a rerun
makes nothing. moto serves from this process (its CPU is part of every run's cost); note the load average.
"""

import argparse
import hashlib
import logging
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
BUCKET = "warm-bench"


def make_originals(corpus: Path, count: int, seed: int) -> dict[str, bytes]:
    """`count` JPEGs from the corpus at varied sizes and qualities: key -> bytes."""
    import pyvips

    sources = sorted(p for p in corpus.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    rng = random.Random(seed)
    originals = {}
    for i in range(count):
        source = sources[i % len(sources)]
        long_side, quality = rng.randint(800, 3000), rng.randint(70, 95)
        image = pyvips.Image.thumbnail(str(source), long_side, height=long_side, size="down")
        originals[f"photos/{i:04d}-{source.stem}.jpg"] = image.jpegsave_buffer(Q=quality, strip=True)
    return originals


def stored_objects(origin, prefix: str) -> dict[str, str]:
    """derived key -> sha256 of its bytes."""
    return {info.key: hashlib.sha256(origin.get(info.key)).hexdigest() for info in origin.list(prefix)}


def warm(endpoint: str, *options: str) -> tuple[float, str]:
    """Run the CLI; (wall seconds, its summary)."""
    command = [sys.executable, "-m", "resizer.cli", "warm", "--bucket", BUCKET, "--s3-endpoint", endpoint,
               "--formats", "webp", *options]
    print("$ resizer " + " ".join(command[3:]), flush=True)
    started, moto_cpu = time.perf_counter(), time.process_time()  # moto serves from this process
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **AWS_ENV})
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    warm_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if done.returncode != 0:
        sys.exit(f"resizer warm failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    print(f"  wall {seconds:.1f} s; CPU: resizer warm {warm_cpu:.1f} s, moto (this process) "
          f"{time.process_time() - moto_cpu:.1f} s, on {os.cpu_count()} cores\n"
          + "".join(f"  {line}\n" for line in done.stdout.splitlines()), flush=True)
    return seconds, done.stdout


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of JPEGs the originals are made from")
    parser.add_argument("--originals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import botocore.session
    from moto.server import ThreadedMotoServer

    from resizer.config import load_config
    from resizer.store.origins import S3Origin

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ENV)  # the Dask workers started below inherit the credentials
    client = botocore.session.get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()
    originals = make_originals(args.corpus, args.originals, args.seed)
    for key, data in originals.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/jpeg")
    config = load_config()
    origin = S3Origin(BUCKET, config.region, config.derived_prefix, endpoint)
    derived = config.derived_prefix + "/"
    megabytes = sum(map(len, originals.values())) / 1e6
    print(f"{len(originals)} originals ({megabytes:.0f} MB, made from {args.corpus} in "
          f"{time.perf_counter() - started:.0f} s) on moto at {endpoint}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}\n", flush=True)

    def fresh() -> None:
        origin.delete_many(info.key for info in origin.list(derived))

    one, _ = warm(endpoint, "--jobs", "1")
    reference = stored_objects(origin, derived)
    fresh()
    two, _ = warm(endpoint, "--jobs", "2")
    same_local = stored_objects(origin, derived) == reference
    fresh()
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_s, _ = warm(endpoint, "--scheduler", cluster.scheduler_address)
    same_dask = stored_objects(origin, derived) == reference
    rerun_s, rerun = warm(endpoint, "--jobs", "2")
    made_nothing = "made        0 outputs" in rerun

    print(f"{len(reference)} outputs from {len(originals)} originals (JPEG -> WebP, 4 variants)")
    print(f"--jobs 1        {one:6.1f} s")
    verdict = "meets" if one / two >= 1.5 else "misses"
    print(f"--jobs 2        {two:6.1f} s   {one / two:.2f}x ({verdict} the 1.5x goal)")
    print(f"Dask, 2 workers {dask_s:6.1f} s   {one / dask_s:.2f}x")
    print(f"rerun           {rerun_s:6.1f} s   made nothing: {made_nothing}")
    print(f"identical keys and bytes: --jobs 2 {same_local}, Dask {same_dask}")
    server.stop()


if __name__ == "__main__":
    main()
