"""Where the deployed functions answer: one base URL, five URLs, or a deploy's saved output.

deploy/endpoints.py is shared by smoke.py, simulate.py, replay_quarantine.py and
configure_callbacks.py; the last test replays a quarantined callback through five Function URLs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from deploy import endpoints
from deploy.endpoints import EndpointError, resolve, urls_from_text
from deploy.spec import load_spec
from devstack import payloads
from devstack.dev import DEV_CALLBACK_KEY
from devstack.gateway import LocalGateway
from devstack.servers import Server
from shared.config import load_settings
from shared.storage import CosStore
from tests.conftest import Live
from tooling import quarantine

SPEC = load_spec()


def test_a_base_url_gets_the_five_routes_and_a_function_url_overrides_its_kind() -> None:
    urls = resolve("https://service-1.gz.apigw.tencentcs.com/release/", {"record": "https://a.tencentscf.com"})
    assert urls["stream_begin"] == "https://service-1.gz.apigw.tencentcs.com/release/live/stream-begin"
    assert urls["record"] == "https://a.tencentscf.com"
    with pytest.raises(EndpointError, match="--snapshot-url"):
        resolve(None, {k: "https://x.example.com" for k in SPEC.kinds if k != "snapshot"})
    with pytest.raises(EndpointError, match="absolute http"):
        resolve("ftp://example.com")


def test_urls_are_read_per_instance_from_the_cli_output_and_from_json() -> None:
    text = "\n".join(
        [
            "live-callbacks-record 部署成功:",
            "  functionName: live-callbacks-prod-record",
            "  docs: https://cloud.tencent.com/document/product/583",
            '  TriggerDesc: {"Url":"https://1250000000-abc.ap-guangzhou.tencentscf.com"}',
            "live-callbacks-apigw-snapshot",
            "  urls:",
            "    - https://service-9-1250000000.gz.apigw.tencentcs.com/release/live/snapshot",
        ]
    )
    assert urls_from_text(text) == {
        "record": "https://1250000000-abc.ap-guangzhou.tencentscf.com",
        "snapshot": "https://service-9-1250000000.gz.apigw.tencentcs.com/release/live/snapshot",
    }
    data = {"stream_end": "https://e.example.com", SPEC.url_instance("porn_detect"): "https://p.example.com"}
    assert urls_from_text(json.dumps(data)) == {
        "stream_end": "https://e.example.com",
        "porn_detect": "https://p.example.com",
    }


def _urls_from_flags(flags: list[str]) -> dict[str, str]:
    """kind -> URL as the tools read them from their command line."""
    parser = argparse.ArgumentParser()
    endpoints.add_arguments(parser)
    return endpoints.from_args(parser.parse_args(flags))


@pytest.fixture
def function_urls(live: Live) -> Iterator[dict[str, str]]:
    with Server(LocalGateway(trigger="url")) as server:
        yield {kind: server.url + SPEC.function(kind).route for kind in SPEC.kinds}


def test_replay_delivers_through_five_function_urls(live: Live, function_urls: dict[str, str]) -> None:
    end = payloads.signed(payloads.stream_end(stream_id="misrouted-url"))
    assert live.invoke("stream_begin", end)["statusCode"] == 200  # quarantined: the wrong function
    flags = [arg for kind, url in function_urls.items() for arg in (f"--{kind.replace('_', '-')}-url", url)]
    lines: list[str] = []

    urls = _urls_from_flags(flags)
    assert urls == function_urls
    assert quarantine.replay_all(CosStore(load_settings()), urls, DEV_CALLBACK_KEY, out=lines.append) == 0

    assert live.objects("quarantine/") == {}
    assert [k for k in live.objects() if k.endswith("-end.json")]
    assert lines[-1] == "1 delivered, 0 kept"
