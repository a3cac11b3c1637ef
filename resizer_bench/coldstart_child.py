"""One cold start of an unzipped Lambda@Edge artifact, run by coldstart.py as

    python -I -S coldstart_child.py FOLDER FUNCTION IMAGE VARIANT FORMAT

so that nothing but FOLDER is importable (no site-packages, no repo): this file imports only the standard library
before the handler. Prints `RESULT {json}`: milliseconds of each phase. "import" is the entry module's import,
i.e. Lambda's init phase (the origin-response entry also warms up there: config, S3 client, image library). The
origin-response requests then read the original from and write the variant to a temporary local folder
(resizer.origins.LocalOrigin, shipped in the zip, installed with resizer.edge.origin.install_origin) instead of S3.
"""

import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _event(request: dict, response: dict | None = None) -> dict:
    cf = {"config": {"distributionDomainName": "bench.cloudfront.net", "distributionId": "BENCH",
                     "eventType": "origin-response" if response else "viewer-request", "requestId": "bench"},
          "request": {"clientIp": "127.0.0.1", "method": "GET", "querystring": "", **request}}
    if response:
        cf["response"] = response
    return {"Records": [{"cf": cf}]}


def main(folder: str, function: str, image: str, variant: str, fmt: str) -> dict:
    sys.path.insert(0, folder)
    phases = {}
    t = time.perf_counter()
    entry = __import__(function.replace("-", "_"))
    phases["import"] = _ms(t)
    from resizer.edge import runtime

    config = runtime.packaged_config()
    name = Path(image).name
    tmp = Path(tempfile.mkdtemp(prefix="coldstart-"))
    try:
        if function == "origin-response":
            from resizer.edge.origin import install_origin
            from resizer.origins import LocalOrigin

            (tmp / "originals").mkdir()
            shutil.copyfile(image, tmp / "originals" / name)
            install_origin(LocalOrigin(tmp / "originals", tmp / "derived", config.derived_prefix))
            event = _event({"uri": f"/{config.derived_prefix}/{variant}/{fmt}/{name}", "headers": {}},
                           {"status": "404", "statusDescription": "Not Found", "headers": {}})
        else:
            stem, dot, suffix = name.rpartition(".")
            accept = {"accept": [{"key": "Accept", "value": f"image/{fmt},*/*;q=0.8"}]}
            event = _event({"uri": f"/{stem}-{variant}{dot}{suffix}", "headers": accept})
        for phase in ("first request", "second request"):
            t = time.perf_counter()
            answer = entry.handler(copy.deepcopy(event), None)
            phases[phase] = _ms(t)
            if int(answer.get("status", 200)) >= 400:
                raise SystemExit(f"{function} {phase}: status {answer['status']}: {answer.get('body', '')[:200]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return phases


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(*sys.argv[1:6])), flush=True)
