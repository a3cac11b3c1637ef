"""The far-origin model and its command-line values. (The emulator's use of it is in tests/test_emulator.py.)"""

import math

import pytest

from resizer import cli
from resizer.origin_model import LOCAL, OriginModel, parse_bandwidth, parse_latency


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


@pytest.mark.parametrize("option, value", [("--origin-latency", "60"), ("--origin-bandwidth", "40Mb/s")])
def test_serve_refuses_a_bad_value_with_exit_2(option, value, tmp_path, capsys):
    assert cli.main(["serve", "--origin", str(tmp_path), option, value]) == 2
    assert f"resizer serve: {option.split('-')[-1]} {value!r}" in capsys.readouterr().err
