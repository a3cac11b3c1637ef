"""The eager function: its zip and its stack are built only for a config with `eager = true` variants; run alone
under `python3.12 -I -S` against moto with the events AWS documents (S3 event notification, EventBridge), it stores
exactly the eager variants' outputs, a second event stores nothing, a derived key's event does nothing, and a
corrupt original is logged, stores nothing and fails the invocation (so Lambda retries once, then records it)."""

import io
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import yaml
from PIL import Image
from skimage import data as skdata

from resizer.build import build, find_interpreter
from resizer.config import parse_config
from resizer.keys import derived_key
from resizer.store.make import outputs_for

BUCKET = "resizer-eager-test"
DRIVER = Path(__file__).with_name("edge_driver.py")
CONFIG = """region = "eu-west-3"

[variants.sm]
size = 100
eager = true

[variants.card]
width = 320
height = 180
fit = "cover"
formats = ["webp"]
eager = true

[variants.xl]
size = 1200
"""


def s3_notification(key: str, bucket: str = BUCKET) -> dict:
    """An S3 event notification as the S3 user guide shows it ("Event message structure"): key URL-encoded."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-3",
        "eventTime": "2026-12-04T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"}, "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "originals",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                          "sequencer": "0055AED6DCD90281E5"}}}]}


def eventbridge(key: str, bucket: str = BUCKET) -> dict:
    """An EventBridge "Object Created" event as the S3 user guide shows it: the key as stored."""
    return {"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
            "source": "aws.s3", "account": "111122223333", "time": "2026-12-04T12:00:00Z", "region": "eu-west-3",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
                                  "sequencer": "617f08299329d189"},
                       "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                       "source-ip-address": "1.2.3.4", "reason": "PutObject"}}


@pytest.fixture(scope="module")
def eager_build(tmp_path_factory):
    if find_interpreter("3.12") is None:
        pytest.skip("no python3.12 to run the zip with")
    folder = tmp_path_factory.mktemp("eager")
    (folder / "eager.toml").write_text(CONFIG)
    out = folder / "dist"
    info = build(folder / "eager.toml", BUCKET, "3.12", out)
    return out, info, parse_config(CONFIG).with_bucket(BUCKET)


def run_eager(out: Path, tmp_path: Path, events: list[dict], env: dict) -> tuple[list, list[dict]]:
    import zipfile

    folder = tmp_path / "eager"
    with zipfile.ZipFile(out / "eager.zip") as zf:
        zf.extractall(folder)
    done = subprocess.run([str(find_interpreter("3.12")), "-I", "-S", str(DRIVER), str(folder)],
                          input=json.dumps([["eager_upload", e] for e in events]), capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return lines[-1]["results"], lines[:-1]


def stored_keys(s3_client) -> set[str]:
    return {o["Key"] for o in s3_client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_the_eager_zip_and_stack(eager_build):
    out, info, _ = eager_build
    assert info["artifacts"]["eager"]["bytes"] <= info["artifacts"]["eager"]["limit"]
    eager = yaml.safe_load((out / "template-eager.yaml").read_text())
    rule = eager["Resources"]["UploadRule"]["Properties"]["EventPattern"]
    assert rule["detail-type"] == ["Object Created"]
    assert rule["detail"]["object"]["key"] == [{"anything-but": {"prefix": "_variants/"}}]
    assert eager["Resources"]["EagerFunction"]["Properties"]["Architectures"] == ["x86_64"]
    assert "# Deploy in eu-west-3" in (out / "template-eager.yaml").read_text()
    edge = yaml.safe_load((out / "template.yaml").read_text())
    origin = edge["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginShield"]["OriginShieldRegion"] == "eu-west-2"  # eu-west-3 has none: its neighbour
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(out / "template-eager.yaml")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_config_without_eager_variants_builds_no_eager_function(tmp_path):
    from resizer.build import build as build_zips

    info = build_zips(None, BUCKET, "3.11", tmp_path)
    assert "eager" not in info["artifacts"]
    assert not (tmp_path / "eager.zip").exists() and not (tmp_path / "template-eager.yaml").exists()


def test_the_eager_function_runs_alone_on_both_event_shapes(eager_build, tmp_path, s3_client, s3_env):
    out, _, config = eager_build
    s3_client.create_bucket(Bucket=BUCKET)
    buffer = io.BytesIO()
    Image.fromarray(skdata.chelsea()).save(buffer, "JPEG", quality=90)
    for key in ("up/cat one.jpg", "up/cat+two.jpg"):
        s3_client.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
    s3_client.put_object(Bucket=BUCKET, Key="up/broken.jpg", Body=buffer.getvalue()[:300])
    eager = [v for v in config.variants.values() if v.eager]
    expected = {o.key for key in ("up/cat one.jpg", "up/cat+two.jpg") for o in outputs_for(config, key, eager)}
    assert expected and not any("/xl/" in k for k in expected)

    derived = sorted(expected)[0]
    results, logs = run_eager(out, tmp_path, [
        s3_notification("up/cat one.jpg"), eventbridge("up/cat+two.jpg"),  # both shapes, both key encodings
        s3_notification("up/cat one.jpg"),  # again: nothing more
        eventbridge(derived), s3_notification(derived),  # our own writes: ignored
        s3_notification("up/broken.jpg"),  # corrupt: logged, nothing stored, the invocation fails
        s3_notification("up/cat one.jpg", bucket="someone-else"),
    ], s3_env)
    assert stored_keys(s3_client) - {"up/cat one.jpg", "up/cat+two.jpg", "up/broken.jpg"} == expected
    assert results[:5] == [{"made": len(expected) // 2}, {"made": len(expected) // 2}, {"made": 0}, {"made": 0},
                           {"made": 0}]
    assert results[5]["raised"] == "EagerFailure"
    assert [line["outcome"] for line in logs] == ["made", "made", "stored", "derived", "derived", "error",
                                                  "other-bucket"]
    assert logs[5]["status"] == 422 and logs[5]["key"] == "up/broken.jpg"
    card = next(k for k in expected if "/card/" in k)
    assert Image.open(io.BytesIO(s3_client.get_object(Bucket=BUCKET, Key=card)["Body"].read())).size == (320, 180)
    assert derived_key(config, "sm", "jpeg", "up/cat one.jpg") in expected  # the original's own family too


def test_upload_stores_the_original_and_its_eager_variants_then_serve_finds_them(tmp_path, serve, capsys):
    from resizer.cli import main

    config_path = tmp_path / "eager.toml"
    config_path.write_text(CONFIG)
    config = parse_config(CONFIG)
    originals, derived = tmp_path / "originals", tmp_path / "derived"
    photo = tmp_path / "cat.jpg"
    Image.fromarray(skdata.chelsea()).save(photo, "JPEG", quality=90)
    argv = ["upload", str(photo), "up/cat.jpg", "--origin", str(originals), "--derived", str(derived),
            "--config", str(config_path), "--focus", "0.3,0.4"]
    assert main(argv) == 0
    eager = [v for v in config.variants.values() if v.eager]
    expected = {o.key for o in outputs_for(config, "up/cat.jpg", eager)}
    made = {str(p.relative_to(derived).as_posix()) for p in derived.rglob("*") if p.is_file()
            and ".resizer-meta" not in p.parts}
    assert {f"{config.derived_prefix}/{m}" for m in made} == expected
    assert json.loads((originals / "up" / "cat.jpg.meta.json").read_text()) == {"focus": "0.3,0.4"}
    assert main(argv) == 1 and "not replaced" in capsys.readouterr().err  # never over a stored original

    from resizer.store.origins import LocalOrigin

    get = serve(LocalOrigin(originals, derived, config.derived_prefix), config)
    capsys.readouterr()
    status, _, body = get("/up/cat-card.jpg", Accept="image/webp")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (320, 180)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["outcome"] for line in lines if line["event"] == "origin-response"] == ["hit"]  # no pixels


def test_upload_of_a_corrupt_file_stores_no_variant(tmp_path, capsys):
    from resizer.cli import main

    config_path = tmp_path / "eager.toml"
    config_path.write_text(CONFIG)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = main(["upload", str(broken), "up/broken.jpg", "--origin", str(tmp_path / "o"), "--derived",
                 str(tmp_path / "d"), "--config", str(config_path)])
    assert code == 1
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line["outcome"] == "error" and line["status"] in (415, 422)
    assert not [p for p in (tmp_path / "d").rglob("*") if p.is_file()]


def test_upload_refuses_a_bad_focal_point_and_a_derived_key(tmp_path, capsys):
    from resizer.cli import main

    photo = tmp_path / "cat.jpg"
    Image.fromarray(skdata.chelsea()).save(photo, "JPEG", quality=90)
    folders = ["--origin", str(tmp_path / "o"), "--derived", str(tmp_path / "d")]
    assert main(["upload", str(photo), "up/cat.jpg", *folders, "--focus", "2,2"]) == 2
    assert "focus ignored: not fractions" in capsys.readouterr().err
    assert main(["upload", str(photo), "_variants/sm/webp/x/up/cat.jpg", *folders]) == 2
    assert not (tmp_path / "o").exists()  # nothing stored
