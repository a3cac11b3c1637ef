"""Full CloudFront Lambda@Edge events, shaped like the examples in the CloudFront developer guide, and checks on
what the handlers return and log."""

import copy
import json

DISTRIBUTION = {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                "distributionId": "EDFDVBD6EXAMPLE"}
CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def _headers(pairs: dict[str, str]) -> dict:
    return {name.lower(): [{"key": name, "value": value}] for name, value in pairs.items()}


def viewer_request(uri: str, accept: str | None = CHROME_ACCEPT, querystring: str = "w=100&utm=x") -> dict:
    headers = {"Host": "d111111abcdef8.cloudfront.net", "User-Agent": "Mozilla/5.0 (test)"}
    if accept is not None:
        headers["Accept"] = accept
    return {"Records": [{"cf": {
        "config": {**DISTRIBUTION, "eventType": "viewer-request",
                   "requestId": "MRVMF7KydIvxMWfJIglgwHQwZsbG2IhRJ07sn9AkKUFSHS9EXAMPLE=="},
        "request": {"clientIp": "203.0.113.178", "method": "GET", "uri": uri, "querystring": querystring,
                    "headers": _headers(headers)},
    }}]}


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
    reasons = {200: "OK", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}
    return {"Records": [{"cf": {
        "config": {**DISTRIBUTION, "eventType": "origin-response",
                   "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
        "request": {"clientIp": "203.0.113.178", "method": "GET", "uri": uri, "querystring": "",
                    "headers": _headers({"Host": domain, "Accept": accept, "X-Forwarded-For": "203.0.113.178",
                                         "User-Agent": "Amazon CloudFront"}),
                    "origin": {"s3": {"domainName": domain, "path": "", "region": "us-east-1",
                                      "authMethod": "origin-access-identity", "customHeaders": {}}}},
        "response": {"status": str(status), "statusDescription": reasons[status],
                     "headers": _headers(response_headers)},
    }}]}


def request_of(event: dict) -> dict:
    return copy.deepcopy(event["Records"][0]["cf"]["request"])


def response_of(event: dict) -> dict:
    return copy.deepcopy(event["Records"][0]["cf"]["response"])


def assert_settable_headers(response: dict) -> None:
    """Every header a handler returns is one Lambda@Edge lets a function set (else CloudFront answers 502)."""
    for lower, values in response["headers"].items():
        assert lower == lower.lower()
        for item in values:
            assert item["key"].lower() == lower


def log_lines(capsys) -> list[dict]:
    """The JSON log lines the handlers printed since the last read."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
