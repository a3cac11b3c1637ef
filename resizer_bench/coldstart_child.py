"""One cold start of an unzipped Lambda@Edge artifact, run by coldstart.py as

    python -I -S coldstart_child.py FOLDER FUNCTION IMAGE VARIANT FORMAT

so that nothing but FOLDER is importable (no site-packages, no repo): this file imports only the standard library
before the handler. Prints `RESULT {json}`: milliseconds of each phase. "import" is the entry module's import,
i.e. Lambda's init phase (the origin-response entry builds its handler there: config, S3 client, image library).
The origin-response requests then go to a handler of the child's own, built from the same modules over a
temporary local folder (resizer.store.origins.LocalOrigin, shipped in the zip) instead of S3.
"""

import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(folder: str, function: str, image: str, variant: str, fmt: str) -> dict:
    sys.path.insert(0, folder)
    phases = {}
    t = time.perf_counter()
    entry = __import__(function.replace("-", "_"))
    from resizer.edge.runtime import elapsed_ms  # loaded by the entry module already

    phases["import"] = elapsed_ms(t)
    from resizer.config import load_baked
    from resizer.edge.events import lambda_event, request_record, response_record
    from resizer.keys import derived_key, public_path

    config = load_baked()
    name = Path(image).name
    tmp = Path(tempfile.mkdtemp(prefix="coldstart-"))
    try:
        if function == "origin-response":
            from resizer.edge.origin import OriginResponse
            from resizer.store.origins import LocalOrigin

            (tmp / "originals").mkdir()
            shutil.copyfile(image, tmp / "originals" / name)
            handler = OriginResponse(config, LocalOrigin(tmp / "originals", tmp / "derived", config.derived_prefix))
            event = lambda_event("origin-response", request_record("/" + derived_key(config, variant, fmt, name)),
                                 response_record(404))
        else:
            handler = entry.handler
            uri = public_path(variant, name)
            event = lambda_event("viewer-request", request_record(uri, {"Accept": f"image/{fmt},*/*;q=0.8"}))
        for phase in ("first request", "second request"):
            t = time.perf_counter()
            answer = handler(copy.deepcopy(event), None)
            phases[phase] = elapsed_ms(t)
            if int(answer.get("status", 200)) >= 400:
                raise SystemExit(f"{function} {phase}: status {answer['status']}: {answer.get('body', '')[:200]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return phases


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(*sys.argv[1:6])), flush=True)
