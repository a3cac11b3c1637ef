"""One contract, every origin: a pair of folders and an S3 bucket (moto's server, real HTTP through obstore) give the
same answers, the same errors and the same refusals for the same inputs (resizer/store/origins.py, module docstring)."""

import pytest

from resizer.errors import MalformedKey, OriginalNotFound, OriginFailure, TooLarge
from resizer.store.origins import LIST_PAGE, LocalOrigin, ObjectInfo, S3Origin

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
IMMUTABLE = "public, max-age=31536000, immutable"
ORIGINALS = {"images/a.png": PNG, "images/b.jpg": JPEG, "images-x/c.png": PNG, "images/z/d.png": PNG,
             "top.png": PNG, "café/ü.png": PNG}


@pytest.fixture(params=["folder", "s3"])
def make_origin(request, tmp_path):
    """`make_origin(originals)` -> an Origin holding `originals` (key -> bytes), derived prefix `_variants`."""

    def folder(originals: dict[str, bytes]) -> LocalOrigin:
        for key, data in originals.items():
            path = tmp_path / "originals" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return LocalOrigin(tmp_path / "originals", tmp_path / "derived", "_variants")

    def s3(originals: dict[str, bytes]) -> S3Origin:
        client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("bucket")
        for key, data in originals.items():
            client.put_object(Bucket=bucket, Key=key, Body=data)
        return S3Origin(bucket, "us-east-1", "_variants")

    return {"folder": folder, "s3": s3}[request.param]


@pytest.fixture
def origin(make_origin):
    return make_origin(ORIGINALS)


def test_get_missing_and_too_large(origin):
    assert origin.get("images/a.png") == PNG
    assert origin.get("café/ü.png", max_bytes=len(PNG)) == PNG
    with pytest.raises(OriginalNotFound):
        origin.get("images/missing.png")
    with pytest.raises(OriginalNotFound):
        origin.get("images")  # a folder (a common prefix) is not an object
    with pytest.raises(TooLarge):
        origin.get("images/b.jpg", max_bytes=len(JPEG) - 1)


def test_head(origin):
    assert origin.head("images/missing.png") is None
    assert origin.head("images") is None
    info = origin.head("images/a.png")
    assert (info.key, info.size) == ("images/a.png", len(PNG))
    assert info.etag and info.etag == origin.head("images/a.png").etag != origin.head("images/b.jpg").etag


@pytest.mark.parametrize("key", ["", "a//b", "../x", "images/../a.png", "./a.png", "a\\b.png", "a\x00.png",
                                 "/images/a.png", "images/", "x" * 1025])
def test_every_method_refuses_keys_that_are_not_plain(origin, key):
    for call in (lambda: origin.get(key), lambda: origin.head(key),
                 lambda: origin.put_if_absent("_variants/" + key, PNG, "image/png", IMMUTABLE),
                 lambda: origin.delete_many(["_variants/" + key])):
        with pytest.raises(MalformedKey):
            call()


def test_create_only_writes_with_metadata(origin):
    key = "_variants/sm/webp/images/a.png"
    assert origin.put_if_absent(key, b"RIFF-first", "image/webp", IMMUTABLE, {"source-etag": '"abc"'}) is True
    assert origin.put_if_absent(key, b"RIFF-second", "image/webp", "no-store", {"source-etag": "other"}) is False
    assert origin.get(key) == b"RIFF-first"
    info = origin.head(key)
    assert (info.size, info.content_type, info.cache_control) == (10, "image/webp", IMMUTABLE)
    assert dict(info.metadata) == {"source-etag": '"abc"'}  # the loser did not overwrite the winner's
    assert origin.put_if_absent("_variants/md/webp/images/a.png", b"RIFF", "image/webp", IMMUTABLE) is True
    assert dict(origin.head("_variants/md/webp/images/a.png").metadata) == {}


@pytest.mark.parametrize("key", ["images/a.png", "images/new.png", "_variants", "_variantsx/a.png",
                                 "other/_variants/a.png"])
def test_writes_and_deletes_outside_the_derived_prefix_are_refused(origin, key):
    with pytest.raises(OriginFailure):
        origin.put_if_absent(key, b"x", "image/png", IMMUTABLE)
    with pytest.raises(OriginFailure):
        origin.delete_many([key])
    assert origin.get("images/a.png") == PNG
    assert origin.head("images/new.png") is None


def test_reserved_derived_segments_are_refused(origin):
    with pytest.raises(MalformedKey):
        origin.put_if_absent("_variants/.resizer-meta/x.png", b"x", "image/png", IMMUTABLE)
    with pytest.raises(MalformedKey):
        origin.head("_variants/.hidden/x.png")


@pytest.mark.parametrize("metadata", [{"Upper": "x"}, {"with space": "x"}, {"ok": "caf\u00e9"}, {"ok": "a\nb"}])
def test_metadata_that_s3_cannot_carry_is_refused(origin, metadata):
    with pytest.raises(ValueError):
        origin.put_if_absent("_variants/sm/webp/images/a.png", b"x", "image/webp", IMMUTABLE, metadata)
    assert origin.head("_variants/sm/webp/images/a.png") is None


def test_batched_delete(origin):
    keys = [f"_variants/sm/webp/images/{i}.png" for i in range(5)]
    for key in keys:
        origin.put_if_absent(key, b"RIFF", "image/webp", IMMUTABLE, {"n": "1"})
    origin.delete_many(iter(keys[:3] + ["_variants/sm/webp/images/never.png"]))
    assert [info.key for info in origin.list("_variants/")] == keys[3:]
    origin.put_if_absent(keys[0], b"RIFF-again", "image/webp", IMMUTABLE)  # a deleted key is free again
    assert dict(origin.head(keys[0]).metadata) == {}  # and carries none of the old object's metadata
    assert origin.get("images/a.png") == PNG


def test_listing_is_sorted_by_bytes_and_filtered_by_prefix(origin):
    derived = ["_variants/sm/webp/images/a.png", "_variants/sm/avif/images/a.png", "_variants/md/webp/top.png"]
    for key in derived:
        origin.put_if_absent(key, b"RIFF", "image/webp", IMMUTABLE)
    everything = sorted([*ORIGINALS, *derived], key=lambda k: k.encode())
    listed = list(origin.list())
    assert all(isinstance(info, ObjectInfo) for info in listed)
    assert [info.key for info in listed] == everything
    assert {info.key: info.size for info in listed}["images/b.jpg"] == len(JPEG)
    assert [i.key for i in origin.list("images")] == ["images-x/c.png", "images/a.png", "images/b.jpg",
                                                     "images/z/d.png"]
    assert [i.key for i in origin.list("images/")] == ["images/a.png", "images/b.jpg", "images/z/d.png"]
    assert [i.key for i in origin.list("_variants/sm/")] == sorted(derived[:2])
    assert [i.key for i in origin.list("_var")] == sorted(derived)
    assert [i.key for i in origin.list("nothing/")] == []
    # start_after resumes a listing where a previous page ended, inside or between folders
    for after in ("images/a.png", "images/", "images-x/c.png", "_variants/sm/avif/images/a.png", "a"):
        assert [i.key for i in origin.list(start_after=after)] == [k for k in everything if k > after]
    assert [i.key for i in origin.list("images/", start_after="images/b.jpg")] == ["images/z/d.png"]


def test_listing_streams_past_one_page(make_origin):
    """More keys than one S3 page: the listing goes on page after page, in order, none twice."""
    keys = {f"p/{i:05d}.png": b"x" for i in range(LIST_PAGE + 37)}
    origin = make_origin(keys)
    listing = origin.list("p/")
    first = next(listing)  # a generator: nothing is listed before it is asked for
    assert first.key == "p/00000.png"
    assert [first.key] + [i.key for i in listing] == sorted(keys)
    assert sum(1 for _ in origin.list("p/", start_after=f"p/{LIST_PAGE:05d}.png")) == 36
