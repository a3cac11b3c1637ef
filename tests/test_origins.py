"""LocalOrigin on real folders, S3Origin against moto's S3 server on loopback (real HTTP, real obstore; botocore only
arranges and inspects the buckets)."""

import socket
import threading

import pytest

from resizer import origins
from resizer.errors import OriginalNotFound, OriginFailure, OriginTimeout
from resizer.origins import LocalOrigin, S3Origin

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def local(tmp_path):
    (tmp_path / "originals" / "images").mkdir(parents=True)
    (tmp_path / "originals" / "images" / "a.png").write_bytes(PNG)
    return LocalOrigin(tmp_path / "originals", tmp_path / "derived")


def test_local_get_and_missing(local):
    assert local.get("images/a.png") == PNG
    with pytest.raises(OriginalNotFound):
        local.get("images/missing.png")
    with pytest.raises(OriginalNotFound):
        local.get("images")  # a folder is not an object


def test_local_derived_objects_live_in_the_derived_folder_only(local, tmp_path):
    key = "_variants/sm/png/images/a.png"
    assert local.put_if_absent(key, b"first", "image/png", IMMUTABLE) is True
    assert local.put_if_absent(key, b"second", "image/png", IMMUTABLE) is False
    assert (tmp_path / "derived" / "sm" / "png" / "images" / "a.png").read_bytes() == b"first"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "originals").rglob("*")) == [
        "originals/images", "originals/images/a.png"]
    assert list(local.list("_variants/")) == [key]
    assert list(local.list()) == [key, "images/a.png"]
    assert local.head(key).size == 5
    local.delete(key)
    assert local.head(key) is None
    assert list(local.list("_variants/")) == []


def test_local_refuses_escapes_and_writes_outside_the_prefix(local):
    with pytest.raises(OriginalNotFound):
        local.get("../originals/images/a.png")
    with pytest.raises(OriginalNotFound):
        local.get("_variants/../../originals/images/a.png")
    with pytest.raises(OriginFailure):
        local.put_if_absent("images/b.png", PNG, "image/png", IMMUTABLE)


def test_local_head_sniffs_the_content_type(local):
    info = local.head("images/a.png")
    assert (info.size, info.content_type, info.cache_control) == (len(PNG), "image/png", None)


def test_local_derived_folder_inside_originals_is_refused(tmp_path):
    with pytest.raises(ValueError):
        LocalOrigin(tmp_path, tmp_path / "derived")


def test_s3_get_head_put_list_delete(bucket, s3_client):
    s3_client.put_object(Bucket=bucket, Key="images/a.png", Body=PNG, ContentType="image/png")
    origin = S3Origin(bucket, "us-east-1")
    assert origin.get("images/a.png") == PNG
    with pytest.raises(OriginalNotFound):
        origin.get("images/missing.png")
    assert origin.head("images/missing.png") is None

    key = "_variants/sm/webp/images/a.png"
    assert origin.put_if_absent(key, b"RIFF-first", "image/webp", IMMUTABLE) is True
    assert origin.put_if_absent(key, b"RIFF-second", "image/webp", IMMUTABLE) is False  # 412: created first
    head = origin.head(key)
    assert (head.size, head.content_type, head.cache_control) == (10, "image/webp", IMMUTABLE)
    assert origin.get(key) == b"RIFF-first"
    assert list(origin.list("_variants/")) == [key]
    origin.delete(key)
    assert list(origin.list()) == ["images/a.png"]


def test_s3_missing_bucket_is_an_origin_failure(s3_env):
    with pytest.raises(OriginFailure):
        S3Origin("no-such-bucket-here", "us-east-1").get("images/a.png")


def test_s3_refused_connection_is_an_origin_failure(s3_env, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(origins, "CONNECT_TIMEOUT_S", 0.5)
    with pytest.raises(OriginFailure, match=r"^S3 get a\.png: "):  # the log's detail names the call and key
        S3Origin("b", "us-east-1", endpoint_url=f"http://127.0.0.1:{port}").get("a.png")


def test_s3_silent_server_is_an_origin_timeout(s3_env, monkeypatch):
    """A server that accepts and never answers: the read timeout fires, twice (2 attempts), then 504."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setattr(origins, "READ_TIMEOUT_S", 0.5)
    try:
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(OriginTimeout, match=r"^S3 get a\.png: timed out$"):  # the read timeout, not the budget
            S3Origin("b", "us-east-1", endpoint_url=endpoint).get("a.png")
        assert len(accepted) == origins.ATTEMPTS
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_s3_origin_needs_a_bucket():
    with pytest.raises(ValueError, match="bucket"):
        S3Origin("", "us-east-1")
