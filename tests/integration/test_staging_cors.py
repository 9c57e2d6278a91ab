"""The staging bucket's CORS rules, as a browser meets them before a presigned PUT.

moto runs with its global CORS off, so only the bucket's own configuration (from template.yaml's
AllowedOrigins) answers; a bucket without rules, as the stack had before, answers no browser."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import LocalStack
from tests.conftest import Api


def _presigned_put(api: Api, data: bytes) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    status, plan, _ = api.request(
        "POST", "/uploads", body={"files": [{"path": "a.bin", "sha256": sha, "size": len(data)}]}
    )
    assert status == 200, plan
    upload: dict[str, Any] = plan["uploads"][0]
    return upload


def _preflight(url: str, origin: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request(
        "OPTIONS",
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-amz-checksum-sha256",
        },
    )


def test_the_bucket_carries_the_templates_rules(stack: LocalStack) -> None:
    rules = stack.moto.client("s3").get_bucket_cors(Bucket=stack.resource("StagingBucket"))["CORSRules"]
    assert rules == [
        {
            "ID": "BrowserUploads",
            "AllowedMethods": ["PUT"],
            "AllowedOrigins": stack.console.origins,
            "AllowedHeaders": ["content-type", "x-amz-checksum-sha256"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }
    ]


def test_a_preflight_from_an_allowed_origin_is_answered_with_what_the_put_needs(api: Api, stack: LocalStack) -> None:
    upload = _presigned_put(api, b"allowed origin")
    answer = _preflight(upload["url"], stack.console.url)
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == stack.console.url
    assert "PUT" in answer.headers["Access-Control-Allow-Methods"]
    assert "x-amz-checksum-sha256" in answer.headers["Access-Control-Allow-Headers"]
    assert answer.headers["Access-Control-Max-Age"] == "3600"
    put = urllib3.request(
        "PUT",
        upload["url"],
        body=b"allowed origin",
        headers={"Origin": stack.console.url, "x-amz-checksum-sha256": upload["headers"]["x-amz-checksum-sha256"]},
    )
    assert put.status == 200
    assert put.headers["Access-Control-Allow-Origin"] == stack.console.url
    assert put.headers["Access-Control-Expose-Headers"] == "ETag"


@pytest.mark.parametrize("origin", ["https://elsewhere.example", "http://127.0.0.1:1"])
def test_a_preflight_from_another_origin_is_refused(api: Api, origin: str) -> None:
    upload = _presigned_put(api, b"another origin")
    answer = _preflight(upload["url"], origin)
    assert answer.status == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
