"""Cold start of the built origin-response zip: fresh interpreter -> first response, S3 client included (with
--viewer also each build's viewer-request zip; with --node the seed's Node stack doing the same miss).

    .venv/bin/python -m benchmarks.cold_start [--dist DIR ...] [--python 3.11] [-n 20] [--image FILE]
                                              [--variant sm] [--format webp] [--importtime] [--json FILE]
                                              [--viewer] [--node]

Without --dist it builds the zips for --python (default: this interpreter) into a temporary folder; several
--dist folders (e.g. a 3.11 and a 3.12 build, or before/after a change) are measured interleaved (run 1 of each,
then run 2, ...) so that load on the machine spreads over all of them. Each zip is unpacked once; a moto S3 server
runs in this process on loopback with the original uploaded. Then n fresh `pythonX.Y -I -S` processes per build
(only the unpacked folder and the standard library importable, like Lambda's /var/task) each run this file with
--child and do what Lambda's init + first invocation do, timed phase by phase:

    interpreter     spawn -> the child's first line (process start, interpreter init, this file's stdlib imports)
    import handler  `import resizer.edge.origin` (the handler module, nothing built yet)
    init rest       the generated entry module (`import origin_response`: `lambda_handler()` reads the config,
                    builds the S3 client and imports the image backend; --importtime splits it by module)
    first request   a miss: GET the original from moto, transform, create-only PUT, the generated response
    total           spawn -> first response (the parent's and the child's shared CLOCK_MONOTONIC)
    total cpu       the child's own CPU time (user + sys) up to the first response: less sensitive to a busy
                    machine than the wall-clock figures (moto's own work is not in it)

Prints median, p90 and min per phase. The child fails (and so does the run) unless the first answer is a 200.
--importtime adds the top modules by own import time from one `-X importtime` run of each entry module.
"""

import json
import shutil
import sys
import time
from pathlib import Path

HANDLER_MODULES = {"origin_response": "resizer.edge.origin", "viewer_request": "resizer.edge.viewer"}


def child(folder: str, started: float, event_json: str, entry_module: str = "origin_response") -> dict:
    """Runs in the fresh `-I -S` interpreter: stdlib only until the zip's modules are imported. The event comes
    ready-made from the parent (resizer.edge.events, the one builder), so any zip, old or new, gets the same."""
    phases = {"interpreter": (time.monotonic() - started) * 1000}
    sys.path.insert(0, folder)

    def timed(name, fn):
        t = time.monotonic()
        value = fn()
        phases[name] = (time.monotonic() - t) * 1000
        return value

    timed("import handler", lambda: __import__(HANDLER_MODULES[entry_module]))
    entry = timed("init rest", lambda: __import__(entry_module))
    event = json.loads(event_json)
    answer = timed("first request", lambda: entry.handler(event, None))
    phases["total"] = (time.monotonic() - started) * 1000
    phases["total cpu"] = time.process_time() * 1000
    if answer.get("status", "200") != "200":  # a viewer-request's rewritten request carries no status
        raise SystemExit(f"first request: status {answer['status']}: {answer.get('body', '')[:300]}")
    return phases


def main(argv=None) -> int:
    import argparse
    import io
    import os
    import subprocess
    import tempfile
    import uuid
    import zipfile

    import pandas as pd

    from resizer.build import build, find_interpreter
    from resizer.config import load_config
    from resizer.edge.events import lambda_event, request_record, response_record
    from resizer.keys import derived_key, public_path
    from resizer_bench.coldstart import _offenders, summarize

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, action="append", help="a `resizer build` output folder, repeatable "
                        "(default: build one)")
    parser.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}",
                        help="target CPython when building (default: this interpreter's)")
    parser.add_argument("-n", type=int, default=20, help="fresh processes per build (default 20)")
    parser.add_argument("--image", type=Path, help="the original (default: scikit-image's chelsea as a JPEG)")
    parser.add_argument("--variant", default="sm")
    parser.add_argument("--format", default="webp")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    parser.add_argument("--viewer", action="store_true",
                        help="also each build's viewer-request.zip: a variant URL rewritten (no S3, no image work)")
    parser.add_argument("--node", action="store_true",
                        help="also the seed's stack: Node 20 + sharp + AWS SDK v3 (benchmarks/node_origin), same miss")
    parser.add_argument("--json", type=Path, help="write the raw samples here")
    args = parser.parse_args(argv)

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"PATH": os.environ.get("PATH", ""), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_SESSION_TOKEN": "testing", "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    if args.image:
        original, name = args.image.read_bytes(), args.image.name
    else:
        from PIL import Image
        from skimage import data

        buffer = io.BytesIO()
        Image.fromarray(data.chelsea()).save(buffer, "JPEG", quality=90)
        original, name = buffer.getvalue(), "chelsea.jpg"
    import botocore.session

    s3 = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
            dists = args.dist
            if not dists:
                dists = [Path(tmp, "dist")]
                build(None, f"cold-start-{uuid.uuid4().hex[:8]}", args.python, dists[0])
            targets = []  # (label, backend, bucket, derived(original key) -> its key, command(started, event) -> argv)
            unpacked = []  # (label, build.json, real interpreter, unpacked folder) of each zip
            for i, dist in enumerate(dists):
                info = json.loads((dist / "build.json").read_text())
                found = find_interpreter(info["python"])
                if found is None:
                    parser.error(f"no python{info['python']} on this machine to run {dist} with")
                # the real binary, not a pyenv shim (a shell script that would add its own start-up)
                python = subprocess.run([found, "-c", "import sys; print(sys.executable)"], capture_output=True,
                                        text=True, check=True).stdout.strip()
                folder = Path(tmp, f"task-{i}")
                with zipfile.ZipFile(dist / "origin-response.zip") as zf:
                    zf.extractall(folder)
                if not _has_bucket(s3, info["bucket"]):
                    s3.create_bucket(Bucket=info["bucket"])
                unpacked.append((f"{dist} (python{info['python']})", info, python, folder))
                def command(started: float, event: str, python=python, folder=folder) -> list[str]:
                    return [python, "-I", "-S", __file__, "--child", str(folder), repr(started), event]

                targets.append((f"{dist} (python{info['python']})", info["backend"], info["bucket"],
                                key_builder(folder, args.variant, args.format), command))
                if args.viewer:
                    viewer_folder = Path(tmp, f"viewer-{i}")
                    with zipfile.ZipFile(dist / "viewer-request.zip") as zf:
                        zf.extractall(viewer_folder)

                    def viewer_command(started: float, event: str, python=python, folder=viewer_folder) -> list[str]:
                        return [python, "-I", "-S", __file__, "--child", str(folder), repr(started), event,
                                "viewer_request"]

                    targets.append((f"{dist} viewer-request (python{info['python']})", "-", info["bucket"], None,
                                    viewer_command))
            if args.node:
                bucket = targets[0][2] if targets else f"cold-start-{uuid.uuid4().hex[:8]}"
                node_dir = node_origin(Path(tmp, "node"), load_config(), args.variant)
                if not _has_bucket(s3, bucket):
                    s3.create_bucket(Bucket=bucket)

                def node_command(started: float, event: str) -> list[str]:
                    return ["node", str(node_dir / "child.mjs"), repr(started * 1000), event]

                current = load_config()
                targets.append((f"node {_node_version()} + sharp + AWS SDK v3", "sharp", bucket,
                                lambda key: derived_key(current, args.variant, args.format, key), node_command))

            rows = []
            for run in range(args.n):
                for label, backend, bucket, derived, command in targets:
                    key = f"cold/{uuid.uuid4().hex[:8]}/{name}"  # a new original per run: every request a miss
                    s3.put_object(Bucket=bucket, Key=key, Body=original)
                    domain = f"{bucket}.s3.us-east-1.amazonaws.com"
                    if derived is None:  # viewer-request: the public URL of the variant, as a browser asks
                        event = json.dumps(lambda_event("viewer-request", request_record(
                            public_path(args.variant, key), {"Accept": f"image/{args.format},*/*;q=0.8"})))
                    else:
                        request = request_record("/" + derived(key),
                                                 origin={"s3": {"domainName": domain, "region": "us-east-1"}})
                        event = json.dumps(lambda_event("origin-response", request, response_record(404)))
                    started = time.monotonic()
                    done = subprocess.run(command(started, event), capture_output=True, text=True, env=env,
                                          timeout=120)
                    if done.returncode != 0:
                        raise SystemExit(f"{label}, run {run} failed:\n{done.stderr[-3000:]}")
                    phases = json.loads(done.stdout.strip().splitlines()[-1])
                    rows += [{"target": label, "backend": backend, "phase": phase, "run": run, "ms": ms}
                             for phase, ms in phases.items()]
            samples = pd.DataFrame(rows)
            table = summarize(samples)
            print(f"{args.n} fresh `-I -S` processes per build; first request: a miss for {args.variant}/"
                  f"{args.format} of {name} ({len(original)} bytes) against moto on loopback; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            zips = {label: (info, python, folder) for label, info, python, folder in unpacked}
            for label, *_ in targets:
                if label in zips:
                    info, python, folder = zips[label]
                    zipped = info["artifacts"]["origin-response"]
                    print(f"\n{label}: {info['backend']} backend, S3 client "
                          f"{info.get('s3_client', '?').split(',')[0]}, origin-response.zip "
                          f"{zipped['bytes'] / 1e6:.2f} MB ({zipped['unpacked_bytes'] / 1e6:.1f} MB unpacked)")
                elif "viewer-request" in label:
                    print(f"\n{label}: the variant URL rewritten to its derived key")
                else:
                    print(f"\n{label}: benchmarks/node_origin/handler.mjs, the same miss and encoder settings")
                print(f"  {'phase':<16}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
                for row in table[table["target"] == label].itertuples():
                    print(f"  {row.phase:<16}{row.ms_median:>10.1f}{row.ms_p90:>10.1f}{row.ms_min:>10.1f}")
                if args.importtime and label in zips:
                    code = f"import sys; sys.path.insert(0, {str(folder)!r}); import origin_response"
                    top = _offenders("entry", [python, "-I", "-S", "-X", "importtime", "-c", code], 12)
                    print("  slowest imports, one run (own ms, cumulative ms):")
                    for row in top.itertuples():
                        print(f"    {row.module:<40}{row.self_ms:>8.1f}{row.cumulative_ms:>8.1f}")
                    print(f"    import of the entry module, handler built: {top['total_ms'].iloc[0]:.1f} ms")
            if args.json:
                args.json.write_text(samples.to_json(orient="records"))
    finally:
        server.stop()
    return 0


def _has_bucket(s3, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in s3.list_buckets().get("Buckets", []))


def key_builder(folder: Path, variant: str, fmt: str):
    """original key -> the derived key the unpacked zip in `folder` reads: its baked config's settings id, or, for a
    zip built before settings ids (to compare against), that layout (`<prefix>/<variant>/<format>/<original>`)."""
    from resizer.build import baked_config
    from resizer.config import load_config
    from resizer.keys import derived_key

    if (folder / "resizer" / "baked.py").is_file():
        config = baked_config(folder)
        return lambda key: derived_key(config, variant, fmt, key)
    prefix = load_config(folder / "resizer" / "variants.toml").derived_prefix
    return lambda key: f"{prefix}/{variant}/{fmt}/{key}"


NODE_ORIGIN = Path(__file__).with_name("node_origin")


def node_origin(folder: Path, config, variant: str) -> Path:
    """A task folder for the Node stack: its handler and child, settings.json from `config` (the same sizes and
    encoder options as the Python zip), and the npm packages (installed once, benchmarks/peers/installers.py)."""
    from benchmarks.peers.installers import install_node_origin

    folder.mkdir(parents=True)
    for name in ("handler.mjs", "child.mjs"):
        shutil.copyfile(NODE_ORIGIN / name, folder / name)
    (folder / "node_modules").symlink_to(install_node_origin() / "node_modules")
    sharp_options = {"jpeg": ("quality", "progressive"), "webp": ("quality", "effort"), "avif": ("quality", "effort"),
                     "png": ("effort",)}
    encoders = {name: {fmt: {option: getattr(v.encoder(fmt), option) for option in options
                             if getattr(v.encoder(fmt), option) is not None}
                       for fmt, options in sharp_options.items()} for name, v in config.variants.items()}
    (folder / "settings.json").write_text(json.dumps({
        "region": config.region, "sizes": {name: v.size for name, v in config.variants.items()},
        "encoders": encoders}))
    return folder


def _node_version() -> str:
    import subprocess

    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(*sys.argv[2:3], float(sys.argv[3]), *sys.argv[4:6])), flush=True)
    else:
        sys.exit(main())
