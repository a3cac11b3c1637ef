"""What is particular to each origin (the shared contract is tests/test_origin_contract.py): LocalOrigin on real
folders, S3Origin against moto's S3 server on loopback (real HTTP, real obstore; botocore only
arranges and inspects the buckets)."""

import socket
import threading

import pytest

from resizer.errors import OriginalNotFound, OriginFailure, OriginTimeout
from resizer.store import origins
from resizer.store.origins import LocalOrigin, S3Origin

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def local(tmp_path):
    (tmp_path / "originals" / "images").mkdir(parents=True)
    (tmp_path / "originals" / "images" / "a.png").write_bytes(PNG)
    return LocalOrigin(tmp_path / "originals", tmp_path / "derived")


def test_local_derived_objects_live_in_the_derived_folder_only(local, tmp_path):
    key = "_variants/sm/png/0123456789/images/a.png"
    assert local.put_if_absent(key, b"first", "image/png", IMMUTABLE) is True
    assert (tmp_path / "derived" / "sm" / "png" / "0123456789" / "images" / "a.png").read_bytes() == b"first"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "originals").rglob("*")) == [
        "originals/images", "originals/images/a.png"]


def test_local_symlinks_out_of_the_folder_are_not_followed(local, tmp_path):
    (tmp_path / "secret.png").write_bytes(PNG)
    (tmp_path / "originals" / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(OriginalNotFound):
        local.get("images/link.png")


def test_local_head_sniffs_the_content_type(local):
    info = local.head("images/a.png")
    assert (info.size, info.content_type, info.cache_control) == (len(PNG), "image/png", None)


def test_local_derived_folder_inside_originals_is_refused(tmp_path):
    with pytest.raises(ValueError):
        LocalOrigin(tmp_path, tmp_path / "derived")


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
