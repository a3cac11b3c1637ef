"""`resizer purge`: every stored variant of the named originals goes, nothing else, and the paths come out."""

import argparse

import pytest

from resizer import purge
from resizer.config import load_config
from resizer.origins import LocalOrigin

CONFIG = load_config()


def run_purge(*argv) -> int:
    parser = argparse.ArgumentParser()
    purge.add_parser(parser.add_subparsers())
    args = parser.parse_args(["purge", *argv])
    return args.run(args)


def test_purge_local_folders(tmp_path, capsys):
    origin = LocalOrigin(tmp_path / "originals", tmp_path / "derived")
    (tmp_path / "originals" / "images").mkdir(parents=True)
    (tmp_path / "originals" / "images" / "a b.jpg").write_bytes(b"\xff\xd8\xff original")
    for key in ("_variants/sm/webp/images/a b.jpg", "_variants/sm/avif/images/a b.jpg",
                "_variants/xl/jpeg/images/a b.jpg", "_variants/sm/webp/images/other.jpg"):
        assert origin.put_if_absent(key, b"x", "image/webp", "public")
    code = run_purge("/images/a%20b.jpg", "--origin", str(tmp_path / "originals"),
                     "--derived", str(tmp_path / "derived"))
    assert code == 0
    expected = ["/images/a%20b.jpg", "/images/a%20b-sm.jpg", "/images/a%20b-xl.jpg"]
    assert capsys.readouterr().out.split() == expected
    assert [info.key for info in origin.list()] == ["_variants/sm/webp/images/other.jpg", "images/a b.jpg"]


def test_purge_s3(bucket, s3_client, moto_endpoint, capsys):
    s3_client.put_object(Bucket=bucket, Key="images/a.png", Body=b"original")
    for key in ("_variants/md/png/images/a.png", "_variants/lg/webp/images/a.png",
                "_variants/md/png/images/b.png"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert run_purge("images/a.png", "--bucket", bucket, "--s3-endpoint", moto_endpoint) == 0
    assert capsys.readouterr().out.split() == ["/images/a.png", "/images/a-md.png", "/images/a-lg.png"]
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["_variants/md/png/images/b.png", "images/a.png"]


@pytest.mark.parametrize("name", ["_variants/sm/webp/images/a.png", "/images/../a.png", "images//a.png"])
def test_purge_refuses_what_is_not_an_original(name, tmp_path, capsys):
    assert run_purge(name, "--origin", str(tmp_path / "o"), "--derived", str(tmp_path / "d")) == 1
    assert "resizer purge:" in capsys.readouterr().err
