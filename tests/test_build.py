"""`resizer build`: zips complete (they run alone), minimal (allowlists), in limits; the template lints.

Builds download wheels once into the build cache ($RESIZER_BUILD_CACHE, default ~/.cache/resizer-build);
later runs reuse them. Each zip is unpacked into an empty folder and its handler runs in a fresh
`python -I -S` whose sys.path is that folder plus the standard library, against moto's S3 on loopback.
"""

import argparse
import importlib.metadata
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cf_events
import pytest
from PIL import Image
from skimage import data as skdata

from resizer import build as build_module
from resizer.build import VIEWER_MODULES, bake_config, baked_config, build, find_interpreter, read_lock
from resizer.cfn import origin_shield_region, render_template
from resizer.config import load_config, parse_config
from resizer.keys import derived_key

BUCKET = "resizer-build-test"
DRIVER = Path(__file__).with_name("edge_driver.py")
ROOT = Path(__file__).resolve().parents[1]


def interpreter(version: str) -> str:
    found = find_interpreter(version)
    if found is None:
        pytest.skip(f"no python{version} on this machine")
    return found


@pytest.fixture(scope="module", params=["3.11", "3.12"])
def built(request, tmp_path_factory):
    """(python version, dist folder, build.json) of a build for that CPython."""
    out = tmp_path_factory.mktemp(f"dist-{request.param}")
    info = build(None, BUCKET, request.param, out)
    return request.param, out, info


def unpack(zip_path: Path, folder: Path) -> Path:
    folder.mkdir()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    return folder


def run_handlers(python: str, folder: Path, calls: list, env: dict) -> dict:
    done = subprocess.run([python, "-I", "-S", str(DRIVER), str(folder)], input=json.dumps(calls),
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_lock_pins_what_the_dev_venv_runs():
    lock = read_lock()
    for requirement in [*lock["s3"]["client"], *(r for rs in lock["backends"].values() for r in rs)]:
        name, version = requirement.split("==")
        assert importlib.metadata.version(name) == version, requirement


def test_bake_config_sets_only_the_top_level_bucket():
    text = 'backend = "vips"\nbucket = ""\n\n[variants.sm]\nsize = 100\n'
    baked = bake_config(text, "my-bucket")
    assert parse_config(baked).bucket == "my-bucket"
    assert baked == text.replace('bucket = ""', 'bucket = "my-bucket"')
    added = bake_config('# comment\n\n[variants.sm]\nsize = 100\n', "b-2")
    assert parse_config(added).bucket == "b-2"
    assert parse_config(added).variant("sm").size == 100


def test_build_refuses_a_bad_bucket(tmp_path):
    with pytest.raises(build_module.BuildError, match="bucket"):
        build(None, "Not_A_Bucket", "3.11", tmp_path)
    with pytest.raises(build_module.BuildError, match="no bucket"):
        build(None, None, "3.11", tmp_path)


def test_build_json_and_limits(built):
    version, out, info = built
    assert json.loads((out / "build.json").read_text()) == info
    assert info["ok"] and info["python"] == version and info["bucket"] == BUCKET
    for name, artifact in info["artifacts"].items():
        assert (out / artifact["file"]).stat().st_size == artifact["bytes"] <= artifact["limit"], name
    assert info["artifacts"]["viewer-request"]["bytes"] < 1_048_576
    assert info["artifacts"]["origin-response"]["bytes"] < 50 * 1024 * 1024
    assert info["packages"]["pyvips"] == "3.2.0"


def test_zips_hold_only_the_allowlist_and_the_baked_config(built, tmp_path):
    _, out, info = built
    with zipfile.ZipFile(out / "viewer-request.zip") as zf:
        names = {n for n in zf.namelist() if "__pycache__" not in n}
    config = baked_config(unpack(out / "viewer-request.zip", tmp_path / "viewer"))
    assert names == {f"resizer/{m}" for m in VIEWER_MODULES} | {"resizer/baked.py", "viewer_request.py"}
    assert config.bucket == BUCKET
    source = load_config()
    assert config.ids == source.ids and config.variants == source.variants  # the table the viewer looks ids up in
    with zipfile.ZipFile(out / "origin-response.zip") as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names}
    assert {"resizer", "pyvips", "PIL", "obstore", "origin_response.py"} <= tops  # PIL: JPEG/WebP encoders
    assert not tops & {"boto3", "botocore", "s3transfer", "resizer_bench", "bin", "numpy"}
    ours = {n for n in names if n.startswith("resizer/") and "__pycache__" not in n}
    assert not ours & {"resizer/cli.py", "resizer/build.py", "resizer/cfn.py", "resizer/image/backends/pillow.py",
                       "resizer/edge/viewer.py", "resizer/lambda-lock.toml", "resizer/edge/emulator.py",
                       "resizer/store/origin_model.py"}


# `dataclasses` imports `inspect` and `ast`: milliseconds of every cold start for nothing the handlers need.
COLD_START_TAX = ("dataclasses", "inspect", "ast")


def test_zips_run_alone_against_s3(built, tmp_path, s3_client, s3_env):
    version, out, _ = built
    python = interpreter(version)
    s3_client.create_bucket(Bucket=BUCKET)
    buffer = io.BytesIO()
    Image.fromarray(skdata.chelsea()).save(buffer, "JPEG", quality=90)  # 451x300
    original_key = f"py{version}/chelsea.jpg"
    s3_client.put_object(Bucket=BUCKET, Key=original_key, Body=buffer.getvalue())

    viewer_event = cf_events.viewer_request(f"/py{version}/chelsea-md.jpg")
    viewer = run_handlers(python, unpack(out / "viewer-request.zip", tmp_path / "viewer"),
                          [["viewer_request", viewer_event]], s3_env)
    uri = viewer["results"][0]["uri"]
    assert uri == "/" + derived_key(load_config(), "md", "avif", f"py{version}/chelsea.jpg")
    assert not set(viewer["modules"]) & {"pyvips", "PIL", "obstore", "botocore", "boto3", "cffi", *COLD_START_TAX}

    folder = unpack(out / "origin-response.zip", tmp_path / "origin")
    # the second miss finds the variant stored: the create-only PUT's AlreadyExists path, inside the zip too
    calls = [["origin_response", cf_events.origin_response(uri, status, BUCKET)] for status in (404, 404, 200)]
    webp_uri = "/" + derived_key(load_config(), "md", "webp", f"py{version}/chelsea.jpg")  # Pillow's encoder
    calls.append(["origin_response", cf_events.origin_response(webp_uri, 404, BUCKET)])
    origin = run_handlers(python, folder, calls, s3_env)
    miss, again, hit, webp = origin["results"]
    assert miss["status"] == "200", miss.get("body")
    assert again["status"] == "200" and again["body"] == miss["body"], again.get("body")
    stored = s3_client.get_object(Bucket=BUCKET, Key=uri[1:])
    assert stored["ContentType"] == "image/avif"
    assert Image.open(stored["Body"]).size == (250, 166)
    assert hit["status"] == "200" and hit["headers"]["vary"][0]["value"] == "Accept"
    assert webp["status"] == "200", webp.get("body")
    stored = s3_client.get_object(Bucket=BUCKET, Key=webp_uri[1:])
    assert (stored["ContentType"], Image.open(stored["Body"]).size) == ("image/webp", (250, 166))
    assert {"pyvips", "PIL", "obstore"} <= set(origin["modules"])
    assert not set(origin["modules"]) & {"boto3", "botocore", "numpy", "resizer_bench", *COLD_START_TAX}
    assert all(path.startswith(str(folder)) for path in origin["files"].values()), origin["files"]


def test_template_passes_cfn_lint(built):
    _, out, info = built
    text = (out / "template.yaml").read_text()
    assert info["artifacts"]["origin-response"]["code_sha256"] in text
    done = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(out / "template.yaml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_origin_shield_sits_in_the_buckets_region_unless_turned_off(built, tmp_path):
    import yaml

    _, out, info = built
    [origin] = yaml.safe_load((out / "template.yaml").read_text())["Resources"]["Distribution"]["Properties"][
        "DistributionConfig"]["Origins"]
    assert origin["OriginShield"] == {"Enabled": True, "OriginShieldRegion": info["region"]} == {
        "Enabled": True, "OriginShieldRegion": "us-east-1"}
    off = yaml.safe_load(render_template({**info, "origin_shield": None}))
    assert "OriginShield" not in off["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    with pytest.raises(build_module.BuildError, match="no Origin Shield in 'mars-north-1'"):
        build(None, BUCKET, "3.11", tmp_path, origin_shield="mars-north-1")


@pytest.mark.parametrize(("choice", "bucket_region", "region"), [
    ("auto", "eu-west-1", "eu-west-1"), ("auto", "eu-north-1", "eu-west-2"), ("auto", "us-west-1", "us-west-2"),
    ("off", "eu-west-1", None), ("ap-south-1", "me-south-1", "ap-south-1")])
def test_origin_shield_region_follows_the_guides_table(choice, bucket_region, region):
    assert origin_shield_region(choice, bucket_region) == region


def test_origin_shield_auto_refuses_a_region_it_cannot_place():
    with pytest.raises(ValueError, match="pass --origin-shield"):
        origin_shield_region("auto", "xx-nowhere-1")


def test_rebuild_is_identical_and_run_fails_over_a_limit(built, tmp_path, monkeypatch, capsys):
    """The same inputs give byte-identical zips (the limit plays no part in them); over a limit, exit 1."""
    version, _, info = built
    monkeypatch.setitem(build_module.LIMITS, "viewer-request", 1000)
    parser = argparse.ArgumentParser()
    build_module.add_parser(parser.add_subparsers())
    args = parser.parse_args(["build", "--bucket", BUCKET, "--python", version, "--out", str(tmp_path)])
    assert args.run(args) == 1
    assert "viewer-request.zip" in capsys.readouterr().out
    again = json.loads((tmp_path / "build.json").read_text())
    assert again["ok"] is False
    for name, artifact in info["artifacts"].items():
        assert again["artifacts"][name]["sha256"] == artifact["sha256"], name
