"""Runs the handlers of an unpacked zip the way Lambda does, for tests/test_build.py.

    python -I -S edge_driver.py FOLDER [EXTRA_FOLDER...]  < [[entry_module, event], ...]  > [result, ...]

-I -S: no site-packages, no PYTHONPATH; sys.path is the folders plus the standard library, nothing else.
Prints one JSON object: the handler results (or what each raised), and which top-level modules got imported.
"""

import importlib
import json
import sys

sys.path[:0] = sys.argv[1:]
calls = json.load(sys.stdin)


def call(entry: str, event: dict) -> object:
    """The handler's result, or what it raised (an asynchronous invocation's failure, which Lambda retries)."""
    try:
        return importlib.import_module(entry).handler(event, None)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which asserts on it
        return {"raised": type(exc).__name__, "detail": str(exc)}


results = [call(entry, event) for entry, event in calls]
modules = sorted({name.split(".")[0] for name in sys.modules})
files = {name: getattr(sys.modules[name], "__file__", None)
         for name in ("resizer", "obstore", "pyvips", "PIL") if name in sys.modules}
sys.stdout.write("\n" + json.dumps({"results": results, "modules": modules, "files": files}) + "\n")
