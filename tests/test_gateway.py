"""Trigger adapter: API Gateway, Function URL and direct invoke shapes, and bad bodies."""

from __future__ import annotations

import base64
import json

import pytest

from devstack.triggers import apigw_event, function_url_event
from shared.errors import BadRequest, MethodNotAllowed, PayloadTooLarge
from shared.gateway import MAX_BODY_BYTES, error_response, json_object, ok_response, parse_trigger

CALLBACK = {"event_type": 1, "stream_id": "s1", "sign": "x", "t": 1}


def test_api_gateway_event_gives_body_lower_case_headers_and_request_id() -> None:
    event = apigw_event(CALLBACK, request_id="req-1", source_ip="198.51.100.7", headers={"X-Custom": "A"})
    request = parse_trigger(event, {"request_id": "ctx-1"})
    assert request.trigger == "apigw"
    assert request.request_id == "req-1"
    assert request.source_ip == "198.51.100.7"
    assert request.headers["x-custom"] == "A"
    assert json_object(request) == CALLBACK


def test_function_url_event_uses_context_request_id_and_remote_addr() -> None:
    request = parse_trigger(function_url_event(CALLBACK, source_ip="203.0.113.9"), {"request_id": "ctx-2"})
    assert request.trigger == "url"
    assert request.request_id == "ctx-2"
    assert request.source_ip == "203.0.113.9"
    assert json_object(request) == CALLBACK


def test_base64_encoded_body_is_decoded() -> None:
    request = parse_trigger(apigw_event(CALLBACK, as_base64=True), {})
    assert json_object(request) == CALLBACK


def test_direct_invoke_takes_the_event_as_the_callback() -> None:
    request = parse_trigger(dict(CALLBACK), {"request_id": "ctx-3"})
    assert request.trigger == "direct"
    assert json_object(request) == CALLBACK


def test_base64_junk_is_a_bad_request() -> None:
    event = apigw_event("not base64 at all!!", as_base64=False)
    event["isBase64Encoded"] = True
    with pytest.raises(BadRequest, match="base64"):
        parse_trigger(event, {})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("{", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('"text"', "not an object"),
        ("null", "not an object"),
        ('{"a": NaN}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"n": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_bad_requests(body: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason) as raised:
        json_object(parse_trigger(apigw_event(body), {}))
    assert raised.value.status == 400


def test_invalid_utf8_is_a_bad_request() -> None:
    event = apigw_event(base64.b64encode(b'{"a": "\xff\xfe"}').decode())
    event["isBase64Encoded"] = True
    with pytest.raises(BadRequest, match="UTF-8"):
        json_object(parse_trigger(event, {}))


def test_body_over_the_limit_is_too_large() -> None:
    body = json.dumps({"pad": "x" * (MAX_BODY_BYTES + 1)})
    with pytest.raises(PayloadTooLarge) as raised:
        json_object(parse_trigger(apigw_event(body), {}))
    assert raised.value.status == 413


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_methods_other_than_post_are_not_allowed(method: str) -> None:
    with pytest.raises(MethodNotAllowed) as raised:
        json_object(parse_trigger(apigw_event(CALLBACK, method=method), {}))
    assert error_response(raised.value)["headers"]["Allow"] == "POST"
    assert raised.value.status == 405


def test_responses_are_integrated_responses() -> None:
    assert ok_response() == {
        "isBase64Encoded": False,
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"code":0}',
    }
    answer = error_response(BadRequest("body is empty"))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"]) == {"code": 400, "message": "body is empty"}


@pytest.mark.parametrize("flag", ["false", "true", 1, "True"])
def test_only_a_boolean_true_marks_the_body_base64(flag: object) -> None:
    event = apigw_event(CALLBACK)
    event["isBase64Encoded"] = flag  # a string or a number is not the documented boolean
    assert json_object(parse_trigger(event, {})) == CALLBACK
