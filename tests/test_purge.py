"""`resizer purge`: every stored variant of the named originals goes, nothing else, and the paths come out;
`--stale` deletes exactly what no config in use produces, from folders and from S3, and never an original."""

import argparse

import pytest

from resizer.config import load_config, parse_config
from resizer.keys import derived_key
from resizer.store import purge
from resizer.store.origins import LocalOrigin, S3Origin

CONFIG = load_config()
IMMUTABLE = "public, max-age=31536000, immutable"


def run_purge(*argv) -> int:
    parser = argparse.ArgumentParser()
    purge.add_parser(parser.add_subparsers())
    args = parser.parse_args(["purge", *argv])
    return args.run(args)


def test_purge_local_folders(tmp_path, capsys):
    origin = LocalOrigin(tmp_path / "originals", tmp_path / "derived")
    (tmp_path / "originals" / "images").mkdir(parents=True)
    (tmp_path / "originals" / "images" / "a b.jpg").write_bytes(b"\xff\xd8\xff original")
    other = derived_key(CONFIG, "sm", "webp", "images/other.jpg")
    for variant, fmt in (("sm", "webp"), ("sm", "avif"), ("xl", "jpeg")):
        assert origin.put_if_absent(derived_key(CONFIG, variant, fmt, "images/a b.jpg"), b"x", "image/webp", "public")
    assert origin.put_if_absent(other, b"x", "image/webp", "public")
    code = run_purge("/images/a%20b.jpg", "--origin", str(tmp_path / "originals"),
                     "--derived", str(tmp_path / "derived"))
    assert code == 0
    expected = ["/images/a%20b.jpg", "/images/a%20b-sm.jpg", "/images/a%20b-xl.jpg"]
    assert capsys.readouterr().out.split() == expected
    assert [info.key for info in origin.list()] == [other, "images/a b.jpg"]


def test_purge_s3(bucket, s3_client, moto_endpoint, capsys):
    s3_client.put_object(Bucket=bucket, Key="images/a.png", Body=b"original")
    for key in ("md/png/images/a.png", "lg/webp/images/a.png", "md/png/images/b.png"):
        variant, fmt, original = key.split("/", 2)
        s3_client.put_object(Bucket=bucket, Key=derived_key(CONFIG, variant, fmt, original), Body=b"x")
    assert run_purge("images/a.png", "--bucket", bucket, "--s3-endpoint", moto_endpoint) == 0
    assert capsys.readouterr().out.split() == ["/images/a.png", "/images/a-md.png", "/images/a-lg.png"]
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [derived_key(CONFIG, "md", "png", "images/b.png"), "images/a.png"]


@pytest.mark.parametrize("name", ["_variants/sm/webp/images/a.png", "/images/../a.png", "images//a.png"])
def test_purge_refuses_what_is_not_an_original(name, tmp_path, capsys):
    assert run_purge(name, "--origin", str(tmp_path / "o"), "--derived", str(tmp_path / "d")) == 1
    assert "resizer purge:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["--stale", "images/a.png"], ["--dry-run", "images/a.png"]])
def test_purge_takes_keys_or_stale_not_both(argv, capsys):
    assert run_purge(*argv, "--origin", "o", "--derived", "d") == 2


# --- --stale ------------------------------------------------------------------------------------------------

# Three configs in a deploy's life: A (previous), B (current: md webp re-tuned), C (older still: sm avif changed)
A_TEXT = CONFIG.text
B_TEXT = A_TEXT + "\n[variants.md.encoders.webp]\nquality = 70\n"
C_TEXT = A_TEXT + "\n[variants.sm.encoders.avif]\nquality = 50\n"
ORIGINALS = ("images/a.jpg", "images/b.png", "c.jpg")


@pytest.fixture(params=["folder", "s3"])
def stored(request, tmp_path):
    """An origin holding originals and every variant x format of them under configs A and C, plus objects of the
    layout before ids and a stray file under the prefix: (origin, CLI options naming it)."""
    a, c = parse_config(A_TEXT), parse_config(C_TEXT)
    if request.param == "folder":
        origin = LocalOrigin(tmp_path / "originals", tmp_path / "derived")
        for key in ORIGINALS:
            (tmp_path / "originals" / key).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "originals" / key).write_bytes(b"original " + key.encode())
        options = ["--origin", str(tmp_path / "originals"), "--derived", str(tmp_path / "derived")]
    else:
        s3_client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("bucket")
        for key in ORIGINALS:
            s3_client.put_object(Bucket=bucket, Key=key, Body=b"original " + key.encode())
        origin = S3Origin(bucket, "us-east-1", "_variants")
        options = ["--bucket", bucket, "--s3-endpoint", request.getfixturevalue("moto_endpoint")]
    for config in (a, c):
        for (variant, fmt) in config.ids:
            for key in ORIGINALS:
                origin.put_if_absent(derived_key(config, variant, fmt, key), b"v" * 10, "image/webp", IMMUTABLE)
    for key in ("_variants/sm/webp/images/a.jpg", "_variants/gone/avif/c.jpg"):  # before settings ids
        origin.put_if_absent(key, b"old", "image/webp", IMMUTABLE)
    origin.put_if_absent("_variants/README.txt", b"a note someone left", "text/plain", "no-store")
    return origin, options


def keys_of(origin) -> set[str]:
    return {info.key for info in origin.list()}


def test_stale_deletes_exactly_what_no_config_in_use_produces(stored, tmp_path, capsys):
    origin, options = stored
    a, b, c = parse_config(A_TEXT), parse_config(B_TEXT), parse_config(C_TEXT)
    (tmp_path / "b.toml").write_text(B_TEXT)
    (tmp_path / "a.toml").write_text(A_TEXT)
    before = keys_of(origin)
    changed = [(v, f) for (v, f) in a.ids if a.ids[v, f] != c.ids[v, f]]
    assert changed == [("sm", "avif")]  # C differs from A in exactly one (variant, format)
    stale = {derived_key(c, "sm", "avif", key) for key in ORIGINALS}
    legacy = {"_variants/sm/webp/images/a.jpg", "_variants/gone/avif/c.jpg"}

    # dry run: counts, deletes nothing
    assert run_purge("--stale", "--dry-run", "--config", str(tmp_path / "b.toml"),
                     "--keep-config", str(tmp_path / "a.toml"), *options) == 0
    out, err = capsys.readouterr()
    assert keys_of(origin) == before
    assert f"{len(stale):>10} objects" in out.splitlines()[1] and "would delete" in out.splitlines()[1]
    assert "_variants/README.txt" in err

    # current B, previous A kept: only C's superseded sm/avif objects and the old layout go
    assert run_purge("--stale", "--config", str(tmp_path / "b.toml"), "--keep-config", str(tmp_path / "a.toml"),
                     *options) == 0
    assert keys_of(origin) == before - stale - legacy
    assert set(ORIGINALS) <= keys_of(origin) and "_variants/README.txt" in keys_of(origin)

    # without keeping A, A's md/webp objects are superseded by B's re-tune and go too; B's own never existed
    assert b.ids["md", "webp"] != a.ids["md", "webp"]
    run_purge("--stale", "--config", str(tmp_path / "b.toml"), *options)
    superseded = {derived_key(a, "md", "webp", key) for key in ORIGINALS}
    assert keys_of(origin) == before - stale - legacy - superseded
    assert len(before - keys_of(origin)) == len(stale) + len(legacy) + len(superseded) == 3 + 2 + 3
