"""Full CloudFront Lambda@Edge events, shaped like the examples in the CloudFront developer guide (built with the
runtime's own `resizer.edge.events` builder, plus the headers CloudFront and S3 add), and checks on what the
handlers return and log."""

import copy
import json

from resizer.edge.events import DISALLOWED, READ_ONLY_RESPONSE, lambda_event, request_record, response_record

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def viewer_request(uri: str, accept: str | None = CHROME_ACCEPT, querystring: str = "w=100&utm=x") -> dict:
    headers = {"Host": "d111111abcdef8.cloudfront.net", "User-Agent": "Mozilla/5.0 (test)"}
    if accept is not None:
        headers["Accept"] = accept
    request = request_record(uri, headers, querystring=querystring, client_ip="203.0.113.178")
    return lambda_event("viewer-request", request,
                        request_id="MRVMF7KydIvxMWfJIglgwHQwZsbG2IhRJ07sn9AkKUFSHS9EXAMPLE==")


def origin_response(uri: str, status: int, bucket: str = "originals", accept: str = CHROME_ACCEPT,
                    content_type: str = "image/png") -> dict:
    """An origin-response event from an S3 origin behind OAC: `uri` is what the viewer function left;
    `content_type` is the stored object's, on a 200."""
    domain = f"{bucket}.s3.us-east-1.amazonaws.com"
    if status == 200:
        response_headers = {"Content-Type": content_type, "Content-Length": "1234", "ETag": '"abc"',
                            "Last-Modified": "Wed, 26 Nov 2026 10:00:00 GMT", "Server": "AmazonS3",
                            "Accept-Ranges": "bytes", "Via": "1.1 abc.cloudfront.net (CloudFront)"}
    else:
        response_headers = {"Content-Type": "application/xml", "Transfer-Encoding": "chunked",
                            "Server": "AmazonS3", "Via": "1.1 abc.cloudfront.net (CloudFront)"}
    request = request_record(
        uri, {"Host": domain, "Accept": accept, "X-Forwarded-For": "203.0.113.178", "User-Agent": "Amazon CloudFront"},
        client_ip="203.0.113.178",
        origin={"s3": {"domainName": domain, "path": "", "region": "us-east-1",
                       "authMethod": "origin-access-identity", "customHeaders": {}}})
    return lambda_event("origin-response", request, response_record(status, response_headers),
                        request_id="4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==")


def request_of(event: dict) -> dict:
    return copy.deepcopy(event["Records"][0]["cf"]["request"])


def response_of(event: dict) -> dict:
    return copy.deepcopy(event["Records"][0]["cf"]["response"])


# CloudFront's lists, restated here from the developer guide ("Restrictions on edge functions") rather than taken
# from the runtime, so a name the runtime forgot still fails the check. A function may pass a read-only header
# through unchanged (the origin's own Via, Transfer-Encoding) but not add or change it.
GUIDE_DISALLOWED = {"connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
                    "proxy-connection", "trailer", "upgrade", "x-accel-buffering", "x-accel-charset",
                    "x-accel-limit-rate", "x-accel-redirect", "x-cache", "x-forwarded-proto", "x-real-ip"}
GUIDE_DISALLOWED_PREFIXES = ("x-amz-cf-", "x-amzn-", "x-edge-")
GUIDE_READ_ONLY_ORIGIN_RESPONSE = {"transfer-encoding", "via"}


def assert_settable_headers(response: dict, origin_headers: dict | None = None) -> None:
    """Every header a handler returns is one Lambda@Edge lets a function return (else CloudFront answers 502):
    CloudFront's shape (lower-case keys matching each item's name), no disallowed name, and read-only ones only
    as the origin sent them (`origin_headers`: the event's response headers, for a passed-through response)."""
    for lower, values in response["headers"].items():
        assert lower == lower.lower(), lower
        for item in values:
            assert item["key"].lower() == lower, (lower, item)
        assert lower not in GUIDE_DISALLOWED and not lower.startswith(GUIDE_DISALLOWED_PREFIXES), lower
        if lower in GUIDE_READ_ONLY_ORIGIN_RESPONSE:
            assert origin_headers is not None and origin_headers.get(lower) == values, lower
    assert DISALLOWED <= GUIDE_DISALLOWED and READ_ONLY_RESPONSE == GUIDE_READ_ONLY_ORIGIN_RESPONSE


def log_lines(capsys) -> list[dict]:
    """The JSON log lines the handlers printed since the last read."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
