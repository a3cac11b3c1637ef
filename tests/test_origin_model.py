"""The far-origin model: its command-line values, and the shaped HTTP file server the peers read originals from.
(The emulator's use of it is in tests/test_emulator.py.)"""

import http.client
import math
import time

import pytest

from benchmarks.peers.origin_server import shaped_origin_server
from resizer import cli
from resizer.errors import OriginalNotFound
from resizer.store.origin_model import LOCAL, OriginModel, ShapedOrigin, parse_bandwidth, parse_latency
from resizer.store.origins import LocalOrigin


@pytest.mark.parametrize("text, seconds", [("60ms", 0.06), ("0.06s", 0.06), ("1.5 ms", 0.0015), ("0s", 0.0)])
def test_latency_values(text, seconds):
    assert parse_latency(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, bytes_per_s", [("40MB/s", 40e6), ("5MiB/s", 5 * 2**20), ("100Mbit/s", 12.5e6),
                                                ("800kbit/s", 100e3), ("1GiB/s", 2**30), ("512B/s", 512)])
def test_bandwidth_values(text, bytes_per_s):
    assert parse_bandwidth(text) == pytest.approx(bytes_per_s)


@pytest.mark.parametrize("parse, text, says", [
    (parse_latency, "60", "give a unit, ms or s"),
    (parse_latency, "fast", "not a number with a unit"),
    (parse_latency, "-5ms", "not a number with a unit"),
    (parse_bandwidth, "40Mb/s", "B/s or bit/s"),
    (parse_bandwidth, "40MB", "B/s or bit/s"),
    (parse_bandwidth, "0MB/s", "more than 0"),
])
def test_bad_values_name_the_value_and_the_forms(parse, text, says):
    with pytest.raises(ValueError, match=says) as caught:
        parse(text)
    assert repr(text) in str(caught.value)


def test_delay_and_label():
    far = OriginModel.parse("60ms", "40MB/s")
    assert far.delay(0) == pytest.approx(0.06) and far.delay(4_000_000) == pytest.approx(0.16)
    assert far.label == "far: 60 ms, 40 MB/s" and not far.is_local
    assert OriginModel.parse(None, "5MiB/s").label == "far: 5.24 MB/s"
    assert OriginModel.parse(None, None) == LOCAL and LOCAL.label == "local" and LOCAL.delay(10**9) == 0
    assert LOCAL.bytes_per_s == math.inf


def test_shaped_origin_charges_every_request(tmp_path, sample_photos):
    (tmp_path / "originals").mkdir()
    photo = sample_photos[0].read_bytes()
    (tmp_path / "originals" / "a.png").write_bytes(photo)
    model = OriginModel.parse("30ms", "5MB/s")
    origin = ShapedOrigin(LocalOrigin(tmp_path / "originals", tmp_path / "derived"), model)

    def timed(call, *args):
        started = time.perf_counter()
        try:
            return call(*args), time.perf_counter() - started
        except OriginalNotFound:
            return None, time.perf_counter() - started

    data, seconds = timed(origin.get, "a.png")
    assert data == photo and seconds >= model.delay(len(photo))
    info, seconds = timed(origin.head, "a.png")
    assert info.size == len(photo) and seconds >= model.delay(0)
    missing, seconds = timed(origin.get, "b.png")  # the 404 made the round trip too
    assert missing is None and seconds >= model.delay(0)
    stored, seconds = timed(origin.put_if_absent, "_variants/x/a.webp", photo, "image/webp", "no-store")
    assert stored and seconds >= model.delay(len(photo))
    assert origin.derived_prefix == "_variants" and [i.key for i in origin.list("_variants/")] == ["_variants/x/a.webp"]


@pytest.mark.parametrize("option, value", [("--origin-latency", "60"), ("--origin-bandwidth", "40Mb/s")])
def test_serve_refuses_a_bad_value_with_exit_2(option, value, tmp_path, capsys):
    assert cli.main(["serve", "--origin", str(tmp_path), option, value]) == 2
    assert f"resizer serve: {option.split('-')[-1]} {value!r}" in capsys.readouterr().err


def test_shaped_file_server_pays_latency_then_bandwidth(tmp_path):
    data = bytes(range(256)) * 1200  # 307 kB: 0.15 s at 2 MB/s
    (tmp_path / "a.bin").write_bytes(data)
    model = OriginModel.parse("40ms", "2MB/s")
    with shaped_origin_server(tmp_path, model) as url:
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
        started = time.perf_counter()
        connection.request("GET", "/a.bin")
        response = connection.getresponse()
        first_byte = time.perf_counter() - started
        body = response.read()
        elapsed = time.perf_counter() - started
        assert response.status == 200 and body == data
        assert first_byte >= model.delay(0) and elapsed >= model.delay(len(data))
        for path in ("/missing.bin", "/../a.bin", "/%2e%2e/a.bin"):  # same keep-alive connection
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 404 and response.read() == b""
            assert time.perf_counter() - started >= model.delay(0)
        connection.close()
