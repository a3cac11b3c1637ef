"""Intermediates (resizer/store/intermediate.py): made once by the first miss of a large original, read by later misses
while the original is unchanged, never served, covered by purge and the settings ids; on real corpus photos."""

import re
import shutil
import threading
from pathlib import Path
from urllib.parse import quote

import cf_events
import pytest

from resizer.config import parse_config
from resizer.edge.origin import OriginResponse
from resizer.edge.viewer import URI_SAFE, ViewerRequest
from resizer.errors import ConfigError, MalformedKey
from resizer.image import pipeline
from resizer.keys import (
    derived_key,
    intermediate_key,
    parse_derived_key,
    parse_public_path,
    split_derived_key,
    split_intermediate_key,
)
from resizer.store import purge
from resizer.store.intermediate import SOURCE_ETAG, SOURCE_SIZE, as_variant
from resizer.store.origins import LocalOrigin, S3Origin

BIG = "pop-nasa-53884.jpg"  # 4256x2832 baseline JPEG: 3.5x the 1200 px intermediate
PACKAGED = parse_config((Path(__file__).parents[1] / "resizer" / "variants.toml").read_text())
WITHOUT_TABLE = re.sub(r"\n\[intermediate\]\n(?:[a-z_]+ = [^\n]*\n)*", "\n", PACKAGED.text)
ON = "size = 1200\nquality = 95\nmin_ratio = 2.0"  # the measured settings (off in the packaged config)


def with_intermediate(lines: str, text: str = WITHOUT_TABLE) -> str:
    """The packaged config's text with its [intermediate] table replaced by `lines`."""
    return text + "\n[intermediate]\n" + lines + "\n"


CONFIG = parse_config(with_intermediate(ON))


def miss(handler, variant: str, fmt: str, key: str):
    record: dict = {}
    result = handler._make_variant(derived_key(handler.config, variant, fmt, key), {}, record)
    return result, record


@pytest.fixture
def folder(tmp_path, corpus_dir):
    (tmp_path / "o" / "photos").mkdir(parents=True)
    for name in (BIG, "ct-african_elephants.jpg"):
        shutil.copy(corpus_dir / name, tmp_path / "o" / "photos" / name)
    return LocalOrigin(tmp_path / "o", tmp_path / "d", CONFIG.derived_prefix)


# --- config and keys -----------------------------------------------------------------------------------------

def test_config_defaults_off_and_errors():
    assert PACKAGED.intermediate is None and PACKAGED.intermediate_id == ""  # off until a far origin gains
    assert CONFIG.intermediate is not None and CONFIG.intermediate_id
    off = parse_config(with_intermediate("size = 0"))
    assert off.intermediate is None and off.intermediate_id == ""
    assert off.ids == CONFIG.ids  # variants' ids do not depend on intermediates
    for bad in ("size = 8", "quality = 0", "min_ratio = 0.5", "min_ratio = true", "format = 'png'"):
        with pytest.raises(ConfigError, match="intermediate"):
            parse_config(with_intermediate(bad))


def test_settings_id_names_what_shapes_the_bytes():
    def id_of(extra: str, text: str = WITHOUT_TABLE) -> str:
        return parse_config(with_intermediate(extra, text)).intermediate_id

    base = id_of("")
    assert id_of("min_ratio = 3") == base  # decides whether one is made, not its bytes
    assert len({base, id_of("size = 1600"), id_of("quality = 90"),
                id_of("", WITHOUT_TABLE.replace('backend = "vips"', 'backend = "pillow"'))}) == 4
    assert CONFIG.replace(intermediate=CONFIG.intermediate._replace(size=1600)).intermediate_id == id_of("size = 1600")


def test_intermediate_key_is_no_public_path_nor_derived_key():
    key = intermediate_key(CONFIG, "photos/a.jpg")
    assert key == f"_variants/~source/{CONFIG.intermediate_id}/photos/a.jpg"
    assert split_intermediate_key("_variants", key) == (CONFIG.intermediate_id, "photos/a.jpg")
    assert split_derived_key("_variants", key) is None
    with pytest.raises(MalformedKey):
        parse_derived_key(CONFIG, key)
    with pytest.raises(MalformedKey):
        parse_public_path("/" + key, CONFIG)
    viewer = ViewerRequest(CONFIG)
    for accept in (cf_events.CHROME_ACCEPT, "image/webp", None):  # the viewer-request never rewrites to it
        for variant in CONFIG.variants:
            result = viewer(cf_events.viewer_request(f"/photos/a-{variant}.jpg", accept))
            assert result["uri"].startswith("/_variants/" + variant + "/") and "~" not in result["uri"]
    for path in ("/" + key, "/_variants/%7Esource/x/a.jpg", "/_variants/~source/x/a-sm.jpg"):
        assert viewer(cf_events.viewer_request(path))["status"] == "400"


@pytest.mark.parametrize("status", [200, 304, 403, 404, 500])
@pytest.mark.parametrize("encoded", [False, True])
def test_origin_response_answers_an_intermediate_key_400(status, encoded, tmp_path):
    handler = OriginResponse(CONFIG, LocalOrigin(tmp_path / "o", tmp_path / "d"))
    key = intermediate_key(CONFIG, "photos/a.jpg")
    uri = "/" + (key.replace("~", "%7E") if encoded else quote(key, safe=URI_SAFE))
    result = handler(cf_events.origin_response(uri, status))
    assert result["status"] == "400"
    assert b"~source" not in str(result).encode()


# --- the handler -----------------------------------------------------------------------------------------------

def test_first_miss_makes_it_later_misses_read_it(folder):
    handler = OriginResponse(CONFIG, folder, image_threads=1)
    original = folder.head(f"photos/{BIG}")
    result, record = miss(handler, "sm", "webp", f"photos/{BIG}")
    assert record["source"] == "original, new intermediate" and record["intermediateStored"] is True
    info = folder.head(intermediate_key(CONFIG, f"photos/{BIG}"))
    assert info.content_type == "image/jpeg"
    assert dict(info.metadata) == {SOURCE_ETAG: original.etag, SOURCE_SIZE: "4256x2832"}
    data = folder.get(info.key)
    assert (pipeline.inspect(data).width, pipeline.inspect(data).height) == (1200, 798)
    for variant, fmt in (("md", "avif"), ("lg", "jpeg"), ("xl", "webp"), ("sm", "png")):
        result, record = miss(handler, variant, fmt, f"photos/{BIG}")
        assert record["source"] == "intermediate"
        alone = pipeline.transform(folder.get(f"photos/{BIG}"), CONFIG.variant(variant), fmt)
        assert (result["status"], record["width"], record["height"]) == ("200", alone.width, alone.height)


def test_small_originals_get_none(folder):
    handler = OriginResponse(CONFIG, folder, image_threads=1)
    _, record = miss(handler, "sm", "webp", "photos/ct-african_elephants.jpg")  # 2048 px < 2 x 1200
    assert record["source"] == "original" and "intermediateStored" not in record
    assert folder.head(intermediate_key(CONFIG, "photos/ct-african_elephants.jpg")) is None


def test_off_and_variants_larger_than_it_read_the_original(folder):
    off = parse_config(with_intermediate("size = 0"))
    _, record = miss(OriginResponse(off, folder, image_threads=1), "sm", "webp", f"photos/{BIG}")
    assert "source" not in record
    small = parse_config(with_intermediate("size = 600"))
    handler = OriginResponse(small, folder, image_threads=1)
    _, record = miss(handler, "lg", "webp", f"photos/{BIG}")  # 700 px box: not covered by a 600 px copy
    assert "source" not in record
    _, record = miss(handler, "md", "webp", f"photos/{BIG}")
    assert record["source"] == "original, new intermediate"


def test_a_changed_original_is_not_read_through_its_old_intermediate(folder, tmp_path, corpus_dir):
    handler = OriginResponse(CONFIG, folder, image_threads=1)
    key = f"photos/{BIG}"
    miss(handler, "sm", "webp", key)
    old = folder.head(intermediate_key(CONFIG, key))
    path = tmp_path / "o" / "photos" / BIG
    path.unlink()  # replaced by another large photo under the same key
    path.write_bytes((corpus_dir / "sq-jon-tyson-fkkk1hnte-q-unsplash.jpg").read_bytes())
    _, record = miss(handler, "md", "webp", key)
    assert record["source"] == "original, intermediate replaced" and record["intermediateStored"] is True
    new = folder.head(intermediate_key(CONFIG, key))
    assert new.metadata[SOURCE_ETAG] == folder.head(key).etag != old.metadata[SOURCE_ETAG]
    assert new.metadata[SOURCE_SIZE] == "4032x3024"
    assert (record["width"], record["height"]) == (250, 188)
    _, record = miss(handler, "lg", "webp", key)
    assert record["source"] == "intermediate"


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_concurrent_first_misses_create_it_once(kind, folder, request, corpus_dir):
    key = f"photos/{BIG}"
    if kind == "s3":
        client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("bucket")
        client.put_object(Bucket=bucket, Key=key, Body=(corpus_dir / BIG).read_bytes())
        origin = S3Origin(bucket, "us-east-1", CONFIG.derived_prefix)
    else:
        origin = folder
    handler = OriginResponse(CONFIG, origin, image_threads=1)
    barrier = threading.Barrier(2)
    records: list[dict] = []

    def first(variant: str) -> None:
        barrier.wait()
        records.append(miss(handler, variant, "webp", key)[1])

    threads = [threading.Thread(target=first, args=(v,)) for v in ("sm", "md")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["intermediateStored"] for r in records) == [False, True]  # both made one, one was stored
    data, info = origin.get_object(intermediate_key(CONFIG, key))
    assert info.metadata[SOURCE_ETAG] == origin.head(key).etag
    assert miss(handler, "lg", "webp", key)[1]["source"] == "intermediate"
    assert pipeline.inspect(data).width == 1200


# --- purge -----------------------------------------------------------------------------------------------------

def test_purge_key_and_stale_cover_intermediates(folder):
    handler = OriginResponse(CONFIG, folder, image_threads=1)
    key = f"photos/{BIG}"
    miss(handler, "sm", "webp", key)
    source = intermediate_key(CONFIG, key)
    retuned = CONFIG.replace(intermediate=CONFIG.intermediate._replace(quality=90))
    old = intermediate_key(retuned, key)
    assert folder.put_if_absent(old, b"\xff\xd8old", "image/jpeg", "no-store", {SOURCE_ETAG: "x"})
    # --stale: the current config's intermediate stays, the re-tuned one's is stale unless that config is kept
    report = purge.purge_stale(folder, CONFIG, [retuned], dry_run=True)
    assert report.counts["stale"] == 0 and report.counts["unparsed"] == 0
    purge.purge_stale(folder, CONFIG, [], dry_run=False)
    assert folder.head(old) is None and folder.head(source) is not None
    # KEY: the variants and the intermediate go; only public paths are printed
    deleted, paths = purge.purge(folder, [CONFIG], [key])
    assert source in deleted and folder.head(source) is None
    assert all("~source" not in p for p in paths)
    assert [info.key for info in folder.list("_variants/")] == []


def test_quality_from_the_intermediate(corpus_dir):
    """The study's bar on one photo: variants read from the intermediate score within 0.5 SSIMULACRA2 points
    of those made from the original, on average over the covered variants (benchmarks/intermediate.py for the
    corpus)."""
    from resizer_bench import metrics

    data = (corpus_dir / BIG).read_bytes()
    source = metrics.load_source(data)
    inter = pipeline.transform(data, as_variant(CONFIG.intermediate), "jpeg").data
    deltas = []
    for name in ("sm", "md", "lg"):
        direct = pipeline.transform(data, CONFIG.variant(name), "webp")
        via = pipeline.transform(inter, CONFIG.variant(name), "webp", fit_size=(4256, 2832))
        assert (via.width, via.height) == (direct.width, direct.height)
        scorer = metrics.Ssimulacra2(metrics.reference(source, direct.width, direct.height), pad_scales=True)
        deltas.append(scorer(metrics.decode_rgb(via.data)) - scorer(metrics.decode_rgb(direct.data)))
    assert sum(deltas) / len(deltas) > -0.5, deltas
