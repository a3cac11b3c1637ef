"""viewer-request: put the negotiated format into the URI so CloudFront caches one object per format.

`/images/test-sm.png` + `Accept: image/avif,...` -> `/_variants/sm/avif/<settings id>/images/test.png`. Originals pass
through untouched. Imports no image library and no boto3: this zip must stay under 1 MB and run in
128 MB / 5 s.
"""

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ..config import Config, load_baked
from ..errors import MalformedKey
from ..keys import derived_key, parse_public_path
from . import runtime
from .events import CloudFrontEvent, EventDict, text_response
from .negotiate import choose_format

# Characters left unescaped in a rewritten URI: unreserved ones and '/', as S3 and CloudFront expect.
URI_SAFE = "/-._~"


class ViewerRequest:
    """The viewer-request function for one config: `ViewerRequest(config)(event, context)`."""

    def __init__(self, config: Config):
        self.config = config

    def __call__(self, event: EventDict, context: Any = None) -> EventDict:
        started = time.perf_counter()
        cf = CloudFrontEvent(event)
        request = cf.request
        uri = request.uri
        record: dict[str, Any] = {"requestId": cf.request_id, "event": "viewer-request", "uri": uri}
        try:
            parsed = parse_public_path(uri, self.config)
            if parsed.variant is None:
                result, record["outcome"] = request.raw, "original"
            else:
                variant, original = parsed.variant, parsed.original_key
                fmt = choose_format(request.headers.get("accept"), self.config.variant(variant), original)
                request.uri = "/" + quote(derived_key(self.config, variant, fmt, original), safe=URI_SAFE)
                request.querystring = ""
                result = request.raw
                record.update(outcome="rewritten", variant=parsed.variant, format=fmt, rewritten=request.uri)
        except MalformedKey as exc:
            result = text_response(exc.status, exc.reason)
            record.update(outcome="malformed", status=exc.status, detail=str(exc))
        except Exception as exc:  # noqa: BLE001 - a function exception would become CloudFront's own 502 page
            result = text_response(500, "Internal error")
            record.update(outcome="error", status=500, error=type(exc).__name__, detail=str(exc)[:300])
        record["ms"] = runtime.elapsed_ms(started)
        runtime.log(record)
        return result


def lambda_handler(load_config: Callable[[], Config] = load_baked) -> runtime.Handler:
    """The zip's handler, built at init from the config baked into the zip (`load_config`: tests pass another)."""
    return runtime.Deferred(lambda: ViewerRequest(load_config()), "viewer-request")
