"""The runtime stands alone: `pip install .` into a fresh venv, without the workbench (workbench/pyproject.toml),
runs `resizer key|info|variants|serve|build|purge`, and the workbench and its libraries are not there to import.

It runs in the default suite (about 20 s with warm caches), on one xdist worker (`make test` passes
--dist loadgroup) so the venv is built once. The runtime's wheels are installed at the versions
resizer/lambda-lock.toml pins, from the build cache tests/test_build.py fills when it has them, else from the
index through pip's own cache. The sources are copied first, so the in-tree build leaves nothing in the checkout.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import decode

from resizer.build import cache_dir, read_lock
from resizer.keys import derived_key

ROOT = Path(__file__).resolve().parents[1]
WORKBENCH_ONLY = ("resizer_bench", "pandas", "tqdm", "skimage", "numpy", "papermill")
RUNTIME_COMMANDS = ["variants", "info", "key", "serve", "build", "purge", "warm", "upload", "html"]

pytestmark = pytest.mark.xdist_group("standalone")


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A venv holding `pip install .` of this checkout and nothing else; its bin/ folder."""
    tmp = tmp_path_factory.mktemp("standalone")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "*.egg-info", "build", "dist", "reports", "out"))
    lock = read_lock()
    constraints = tmp / "constraints.txt"
    constraints.write_text("\n".join([*lock["backends"]["vips"], *lock["s3"]["client"]]) + "\n")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, env=clean_env())
    wheels = cache_dir() / "wheels"
    find_links = ["--find-links", wheels] if wheels.is_dir() else []
    done = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", *find_links, "-c", constraints,
                           source], capture_output=True, text=True, env=clean_env(), cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH/PYTHONHOME (a test run may put the checkout on the path)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def resizer(bin_dir: Path, *args, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([bin_dir / "resizer", *map(str, args)], capture_output=True, text=True,
                          env=clean_env(), cwd=cwd, timeout=600)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def photo(tmp_path, sample_photos) -> Path:
    """A folder of originals holding one JPEG photo as images/photo.jpg."""
    target = tmp_path / "originals" / "images" / "photo.jpg"
    target.parent.mkdir(parents=True)
    shutil.copyfile(next(p for p in sample_photos if p.suffix == ".jpg"), target)
    return target


def test_the_workbench_and_its_libraries_are_not_installed(runtime_venv, tmp_path):
    probe = ("import importlib.util, json, resizer; "
             f"print(json.dumps([resizer.__file__, [m for m in {WORKBENCH_ONLY!r} if importlib.util.find_spec(m)]]))")
    done = subprocess.run([runtime_venv / "python", "-c", probe], capture_output=True, text=True, env=clean_env(),
                          cwd=tmp_path, check=True)
    location, importable = json.loads(done.stdout)
    assert Path(location).is_relative_to(runtime_venv.parent) and importable == []


def test_help_lists_the_runtime_commands_only(runtime_venv, tmp_path):
    listed = resizer(runtime_venv, "--help", cwd=tmp_path).stdout
    commands = listed.split("COMMAND\n", 1)[1].split("\n\n")[0]
    assert re.findall(r"^    (\S+)", commands, flags=re.M) == RUNTIME_COMMANDS


def test_key_info_and_variants(runtime_venv, photo, tmp_path, config):
    key = resizer(runtime_venv, "key", "/images/test-sm.png", cwd=tmp_path).stdout
    assert derived_key(config, "sm", "png", "images/test.png") in key
    info = resizer(runtime_venv, "info", photo, cwd=tmp_path).stdout
    fields = dict(line.split(None, 1) for line in info.splitlines()[1:])
    assert fields["format"].strip() == "jpeg" and decode(photo.read_bytes()).size == (
        int(fields["width"]), int(fields["height"]))
    out = tmp_path / "out"
    resizer(runtime_venv, "variants", photo, "-o", out, cwd=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"photo-{v}.jpg" for v in config.variants)
    for variant in config.variants.values():
        assert max(decode((out / f"photo-{variant.name}.jpg").read_bytes()).size) <= variant.size


def test_serve_a_folder_then_purge_what_it_stored(runtime_venv, photo, tmp_path):
    originals, derived = photo.parents[1], tmp_path / "derived"
    server = subprocess.Popen([runtime_venv / "resizer", "serve", "--origin", originals, "--derived", derived,
                               "--port", "0"], stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=tmp_path)
    try:
        banner = server.stderr.readline()
        serving = re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/", banner)
        assert serving, banner + server.stderr.read()
        port = int(serving.group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/images/photo-sm.jpg", headers={"Accept": "image/webp"})
        response = connection.getresponse()
        body = response.read()
        assert (response.status, response.getheader("Content-Type")) == (200, "image/webp")
        assert decode(body).format == "WEBP" and max(decode(body).size) <= 100
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0
    stored = [p for p in derived.rglob("*") if p.is_file()]
    assert stored

    purged = resizer(runtime_venv, "purge", "images/photo.jpg", "--origin", originals, "--derived", derived,
                     cwd=tmp_path)
    assert "/images/photo-sm.jpg" in purged.stdout.splitlines()
    assert not any(p.exists() for p in stored)
    assert resizer(runtime_venv, "purge", "--help", cwd=tmp_path).stdout.startswith("usage: resizer purge")

    warmed = resizer(runtime_venv, "warm", "--origin", originals, "--derived", derived, "--jobs", "1", cwd=tmp_path)
    assert "made" in warmed.stdout and [p for p in derived.rglob("*") if p.is_file()]


def test_serve_without_an_origin_asks_for_one(runtime_venv, tmp_path):
    done = resizer(runtime_venv, "serve", cwd=tmp_path, ok=False)
    assert done.returncode == 2 and "--origin DIR" in done.stderr


def test_build_writes_both_zips(runtime_venv, tmp_path):
    out = tmp_path / "dist"
    resizer(runtime_venv, "build", "--bucket", "resizer-standalone", "--out", out, cwd=tmp_path)
    info = json.loads((out / "build.json").read_text())
    assert info["ok"] and info["bucket"] == "resizer-standalone"
    assert {a["file"] for a in info["artifacts"].values()} <= {p.name for p in out.iterdir()}
    assert (out / "template.yaml").is_file()
