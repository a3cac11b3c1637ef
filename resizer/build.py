"""`resizer build`: the two Lambda@Edge zips, a CloudFormation template and build.json, in one folder.

    viewer-request.zip   (< 1 MB)   pure modules on an explicit allowlist + the config, bucket baked in
    origin-response.zip  (< 50 MB)  runtime modules on an allowlist + config + the backend's and the S3
                                    client's pinned wheels (resizer/lambda-lock.toml), manylinux x86_64
    template.yaml                   S3 + OAC + CloudFront + both functions and their numbered versions
    eager.zip, template-eager.yaml  only for a config with `eager = true` variants: the origin zip's code + the
                                    eager function (resizer/store/eager.py) and its stack for the bucket's Region
    build.json                      sizes against limits, versions, config sha256, handlers, artifact keys

Wheels and the pyvips wheel built from its sdist are cached under $RESIZER_BUILD_CACHE (default
~/.cache/resizer-build), so a rebuild makes no download. Zips are reproducible: sorted entries, fixed dates.
When an interpreter of the target version is found, modules are precompiled (unchecked-hash .pyc): /var/task
is read-only, so without them every cold start would compile the backend's and our modules from source.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

from .cfn import origin_shield_region, render_template
from .config import Config, baked_module, load_baked, load_config, parse_config

PACKAGE_DIR = Path(__file__).resolve().parent
LOCK_PATH = PACKAGE_DIR / "lambda-lock.toml"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# zipped package quotas: Lambda@Edge's, and a regular function's direct upload (eager)
LIMITS = {"viewer-request": 1_048_576, "origin-response": 52_428_800, "eager": 52_428_800}
DEFAULT_PYTHON = "3.12"  # the Lambda runtime; 3.11 only for local tests (its Amazon Linux 2 has glibc 2.26)
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Explicit allowlists (paths inside resizer/). Nothing else ships: no CLI, no build, no measurement code.
VIEWER_MODULES = (
    "__init__.py", "errors.py", "config.py", "keys.py", "image/__init__.py", "image/formats.py",
    "image/sizing.py", "edge/__init__.py", "edge/events.py", "edge/runtime.py", "edge/viewer.py", "edge/negotiate.py",
)
ORIGIN_MODULES = (
    "__init__.py", "errors.py", "config.py", "keys.py",
    "image/__init__.py", "image/formats.py", "image/sizing.py", "image/pipeline.py", "image/quality_probe.py",
    "image/backends/__init__.py", "image/backends/base.py", "image/backends/pillow_save.py",
    "store/__init__.py", "store/intermediate.py", "store/origins.py",
    "edge/__init__.py", "edge/events.py", "edge/runtime.py", "edge/origin.py", "edge/negotiate.py",
)
# The eager function (only for a config with `eager = true` variants): the origin zip's modules and the code that
# makes one original's outputs.
EAGER_MODULES = (*ORIGIN_MODULES, "store/make.py", "store/eager.py")
FUNCTIONS = {
    # zip name: (top-level entry module, module whose `lambda_handler()` builds the handler at init)
    "viewer-request": ("viewer_request", "resizer.edge.viewer"),
    "origin-response": ("origin_response", "resizer.edge.origin"),
    "eager": ("eager_upload", "resizer.store.eager"),
}


class BuildError(Exception):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("RESIZER_BUILD_CACHE") or Path.home() / ".cache" / "resizer-build")


def read_lock(path: Path = LOCK_PATH) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def pinned(requirement: str) -> tuple[str, str]:
    name, sep, version = requirement.partition("==")
    if not sep or not version:
        raise BuildError(f"{LOCK_PATH.name}: {requirement!r} is not pinned with '=='")
    return name, version


def bake_config(text: str, bucket: str) -> str:
    """The config text with the top-level `bucket` set (replaced in place, or added above the first table)."""
    line = f'bucket = "{bucket}"'
    first_table = re.search(r"^\s*\[", text, flags=re.M)
    head, tail = (text[: first_table.start()], text[first_table.start():]) if first_table else (text, "")
    head, count = re.subn(r"^bucket\s*=.*$", line, head, count=1, flags=re.M)
    if not count:
        head = head.rstrip("\n") + ("\n" if head.strip() else "") + line + "\n\n"
    return head + tail


def build(config_path: str | Path | None, bucket: str | None, python_version: str = DEFAULT_PYTHON,
          out_dir: str | Path = "dist", origin_shield: str = "auto") -> dict[str, Any]:
    """Write both zips, template.yaml and build.json into `out_dir`; returns what build.json says."""
    if not re.fullmatch(r"3\.\d+", python_version):
        raise BuildError(f"--python must look like 3.12, got {python_version!r}")
    source = load_config(config_path)
    bucket = bucket or source.bucket
    if not bucket:
        raise BuildError("no bucket: pass --bucket NAME or set `bucket` in the config")
    if not BUCKET_NAME.match(bucket):
        raise BuildError(f"{bucket!r} is not a valid S3 bucket name")
    baked_text = bake_config(source.text, bucket)
    config = parse_config(baked_text, f"{source.source} (bucket {bucket})")
    try:
        shield = origin_shield_region(origin_shield, config.region)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    lock = read_lock()
    if config.backend not in lock["backends"]:
        raise BuildError(f"{LOCK_PATH.name} has no wheels for backend {config.backend!r}")
    requirements = [*lock["backends"][config.backend], *lock["s3"]["client"]]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    interpreter = find_interpreter(python_version)

    with tempfile.TemporaryDirectory(prefix="resizer-build-") as tmp:
        viewer_dir, origin_dir = Path(tmp, "viewer"), Path(tmp, "origin")
        stage(viewer_dir, VIEWER_MODULES, config, "viewer-request")
        stage(origin_dir, (*ORIGIN_MODULES, f"image/backends/{config.backend}.py"), config, "origin-response")
        install_wheels(requirements, set(lock.get("sdist_only", [])), origin_dir, python_version, cache_dir())
        folders = {"viewer-request": viewer_dir, "origin-response": origin_dir}
        if any(v.eager for v in config.variants.values()):
            folders["eager"] = eager_dir = Path(tmp, "eager")
            shutil.copytree(origin_dir, eager_dir)  # the origin zip's modules and wheels: pip installs them once
            (eager_dir / f"{FUNCTIONS['origin-response'][0]}.py").unlink()  # its entry module is not this one's
            stage(eager_dir, (*EAGER_MODULES, f"image/backends/{config.backend}.py"), config, "eager")
        artifacts = {}
        for name, folder in folders.items():
            if interpreter:
                precompile(interpreter, folder)
            artifacts[name] = write_zip(folder, out / f"{name}.zip", name)

    info = {
        "python": python_version,
        "runtime": f"python{python_version}",
        "deployable": tuple(map(int, python_version.split("."))) >= (3, 12),
        "precompiled": interpreter is not None,
        "backend": config.backend,
        "bucket": bucket,
        "region": config.region,
        "origin_shield": shield,  # the Region origin-facing work runs in (None: the one nearest each viewer)
        "derived_prefix": config.derived_prefix,
        "config_source": str(source.source),
        "config_sha256": config.digest,
        "s3_client": "obstore, vendored in origin-response.zip (docs/EDGE.md, 'S3 client')",
        "packages": dict(pinned(r) for r in requirements),
        "artifacts": artifacts,
    }
    info["ok"] = all(a["bytes"] <= a["limit"] for a in artifacts.values())
    (out / "template.yaml").write_text(render_template(info), encoding="utf-8")
    eager_template_path = out / "template-eager.yaml"
    if "eager" in artifacts:
        eager_template_path.write_text(render_template(info, eager=True), encoding="utf-8")
    else:
        eager_template_path.unlink(missing_ok=True)  # an earlier build's, for another config
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def stage(folder: Path, modules: tuple[str, ...], config: Config, function: str) -> None:
    """Copy the allowlisted modules, the baked config (`resizer/baked.py`) and the entry module into `folder`."""
    for module in modules:
        src = PACKAGE_DIR / module
        if not src.is_file():
            raise BuildError(f"allowlisted module resizer/{module} does not exist")
        dest = folder / "resizer" / module
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    (folder / "resizer" / "baked.py").write_text(baked_module(config), encoding="utf-8")
    entry, module = FUNCTIONS[function]
    kind = "Lambda" if function == "eager" else "Lambda@Edge"
    (folder / f"{entry}.py").write_text(
        f'"""{kind} {function} entry point (generated by resizer build)."""\n\n'
        f"from {module} import lambda_handler\n\nhandler = lambda_handler()\n", encoding="utf-8")


def baked_config(folder: Path) -> Config:
    """The config baked into an unpacked zip `folder` (what its handlers run with), read from outside it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("resizer_baked", folder / "resizer" / "baked.py")
    if spec is None or spec.loader is None:
        raise BuildError(f"{folder} holds no resizer/baked.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return load_baked(module)


def install_wheels(requirements: list[str], sdist_only: set[str], target: Path, python_version: str,
                   cache: Path) -> None:
    """pip-install the pinned manylinux x86_64 wheels into `target`, downloading only what the cache lacks."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    from_sdist = [r for r in requirements if pinned(r)[0] in sdist_only]
    from_index = [r for r in requirements if r not in from_sdist]
    for requirement in from_sdist:
        name, version = pinned(requirement)
        if not list(wheels.glob(f"{name.replace('-', '_')}-{version}-py3-none-any.whl")):
            _pip("wheel", "--no-deps", "--no-binary", name, requirement, "-w", wheels)
    platform = ["--python-version", python_version, "--implementation", "cp", "--only-binary=:all:"]
    for tag in PLATFORMS:  # all of them: with one tag pip refuses cffi's wheel or picks a pre-release
        platform += ["--platform", tag]
    install: list[str | Path] = ["install", "--no-deps", "--no-compile", "--target", target, *platform,
               "--no-index", "--find-links", wheels, *requirements]
    if _pip(*install, check=False).returncode != 0:
        _pip("download", "--no-deps", "-d", wheels, *platform, *from_index)
        _pip(*install)
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: useless on Lambda


def _pip(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done


def find_interpreter(python_version: str) -> str | None:
    """An interpreter of the target version (this one, pythonX.Y on PATH, or pyenv's), to precompile with."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == python_version:
        return sys.executable
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    pyenv_builds = sorted(pyenv_root.glob(f"versions/{python_version}.*/bin/python{python_version}"))
    candidates = [shutil.which(f"python{python_version}"), *map(str, pyenv_builds)]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == python_version:
            return candidate
    return None


def precompile(interpreter: str, folder: Path) -> None:
    """Write unchecked-hash .pyc files (valid whatever the unzipped files' timestamps are).

    Source paths inside them are rewritten to Lambda's task root, which also keeps the zip reproducible.
    Serial on purpose: marshal flags an object for sharing by its reference count, which depends on what the
    same process compiled before, so parallel workers (`-j 0`) give different bytes from run to run.
    """
    done = subprocess.run([interpreter, "-I", "-m", "compileall", "-q", "--invalidation-mode",
                           "unchecked-hash", "-s", str(folder), "-p", "/var/task", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"compileall with {interpreter} failed:\n{done.stdout}{done.stderr}")


def write_zip(folder: Path, path: Path, function: str) -> dict[str, Any]:
    """A reproducible zip of `folder` (sorted names, fixed dates, 0644/0755): same inputs -> same sha256."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    unpacked = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for file in files:
            info = zipfile.ZipInfo(file.relative_to(folder).as_posix(), ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if os.access(file, os.X_OK) else 0o644) << 16
            data = file.read_bytes()
            unpacked += len(data)
            zf.writestr(info, data, compresslevel=9)
    digest = hashlib.sha256(path.read_bytes()).digest()
    entry = FUNCTIONS[function][0]
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "limit": LIMITS[function],
        "unpacked_bytes": unpacked,
        "files": len(files),
        "sha256": digest.hex(),
        "code_sha256": base64.b64encode(digest).decode("ascii"),  # what Lambda reports as CodeSha256
        "handler": f"{entry}.handler",
        "key": f"resizer/{digest.hex()[:16]}/{path.name}",  # content-addressed: a new build is a new S3 key
    }


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser("build", help="build the Lambda@Edge zips, template.yaml and build.json",
                              description=__doc__.split("\n")[0])
    p.add_argument("--config", metavar="FILE", help="variants config (default: the packaged variants.toml)")
    p.add_argument("--bucket", metavar="NAME", help="bucket of originals, baked into the config")
    p.add_argument("--python", default=DEFAULT_PYTHON, metavar="X.Y",
                   help=f"target CPython (default {DEFAULT_PYTHON}, the Lambda runtime; 3.11: local tests)")
    p.add_argument("--out", default="dist", type=Path, metavar="DIR", help="output folder (default: dist)")
    p.add_argument("--origin-shield", default="auto", metavar="REGION|auto|off",
                   help="CloudFront Origin Shield for the bucket origin, where origin-facing work then runs (default "
                        "auto: the config's region, or the neighbour the CloudFront guide names; docs/EDGE.md)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        info = build(args.config, args.bucket, args.python, args.out, args.origin_shield)
    except BuildError as exc:
        print(f"resizer build: {exc}", file=sys.stderr)
        return 2
    for a in info["artifacts"].values():
        verdict = "ok" if a["bytes"] <= a["limit"] else "OVER THE LIMIT"
        print(f"{a['file']:<22} {a['bytes'] / 1e6:7.2f} MB of {a['limit'] / 1e6:5.2f} MB  "
              f"({a['unpacked_bytes'] / 1e6:.1f} MB unpacked, {a['files']} files)  {verdict}")
    notes = [] if info["precompiled"] else [f"no python{info['python']} found: modules not precompiled"]
    if not info["deployable"]:
        notes.append(f"python{info['python']} is for local tests only: deploy a --python 3.12 build")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {args.out}/template.yaml and {args.out}/build.json "
          f"(config sha256 {info['config_sha256'][:12]}; Origin Shield: {info['origin_shield'] or 'off'})")
    return 0 if info["ok"] else 1
