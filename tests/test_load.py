"""benchmarks/load.py runs end to end: a few seconds, two clients, against `resizer serve` in its own process.

Not a timing test: it checks that every kind of request was made and got only the statuses it may get.
"""

import importlib.util
from pathlib import Path

LOAD = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"


def test_load_script_runs(tmp_path, sample_photos, capsys):
    spec = importlib.util.spec_from_file_location("load", LOAD)
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    origin = tmp_path / "photos"
    origin.mkdir()
    for photo in sample_photos[:3]:
        (origin / photo.name).write_bytes(photo.read_bytes())
    result = load.main(["--origin", str(origin), "--duration", "5", "--clients", "2", "--sample-every", "1",
                        "--json", str(tmp_path / "load.json")])
    assert result["requests"] > 0 and result["unexpected"] == {} and result["connection_failures"] == {}
    assert {"hit", "miss", "bad-path", "missing"} <= set(result["kinds"])
    assert len(result["rss_kb"]) >= 3 and all(kb > 0 for _, kb in result["rss_kb"])
    assert "req/s" in capsys.readouterr().out and (tmp_path / "load.json").is_file()
