"""Configuration: validated once, with messages that name the variable."""

from __future__ import annotations

import pytest

from shared.config import load_settings
from shared.errors import ConfigurationError
from shared.signing import DEFAULT_SIGN_TOLERANCE_SECONDS

BASE = {
    "LIVE_CALLBACK_KEYS": "new-key, old-key",
    "COS_BUCKET": "live-1250000000",
    "COS_REGION": "ap-guangzhou",
    "TENCENTCLOUD_SECRETID": "AKIDxxxx",
    "TENCENTCLOUD_SECRETKEY": "secretxxxx",
}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.callback_keys == ("new-key", "old-key")
    assert settings.sign_tolerance_seconds == DEFAULT_SIGN_TOLERANCE_SECONDS == 300
    assert settings.cos_scheme == "https"
    assert settings.moderation_suggestions == {"Block", "Review"}
    assert settings.cmq_endpoint is None
    assert settings.cos_prefix == ""


def test_prefix_is_normalised_to_one_trailing_slash() -> None:
    assert load_settings({**BASE, "COS_PREFIX": "/live/callbacks/"}).cos_prefix == "live/callbacks/"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"LIVE_CALLBACK_KEYS": ""}, "LIVE_CALLBACK_KEYS"),
        ({"LIVE_CALLBACK_KEYS": " , "}, "LIVE_CALLBACK_KEYS"),
        ({"COS_BUCKET": ""}, "COS_BUCKET"),
        ({"COS_BUCKET": "no-appid"}, "COS_BUCKET"),
        ({"COS_REGION": ""}, "COS_REGION"),
        ({"COS_SCHEME": "ftp"}, "COS_SCHEME"),
        ({"LIVE_SIGN_TOLERANCE_SECONDS": "5 min"}, "LIVE_SIGN_TOLERANCE_SECONDS"),
        ({"LIVE_SIGN_TOLERANCE_SECONDS": "-1"}, "LIVE_SIGN_TOLERANCE_SECONDS"),
        ({"MODERATION_SUGGESTIONS": "Block,Maybe"}, "MODERATION_SUGGESTIONS"),
        ({"TENCENTCLOUD_SECRETID": ""}, "TENCENTCLOUD_SECRETID"),
        ({"CMQ_ENDPOINT": "gz.mqadapter.cmq.tencentyun.com"}, "CMQ_ENDPOINT"),  # no scheme
        ({"CMQ_ENDPOINT": "ftp://gz.mqadapter.cmq.tencentyun.com"}, "CMQ_ENDPOINT"),
        ({"CMQ_ENDPOINT": "http://gz.mqadapter.cmq.tencentyun.com/v2/index.php"}, "CMQ_ENDPOINT"),  # a path
    ],
)
def test_invalid_configuration_names_the_variable(change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings({**BASE, **change})


def test_topic_is_required_only_where_hits_are_published() -> None:
    assert load_settings(BASE).moderation_topic is None
    with pytest.raises(ConfigurationError, match="MODERATION_TOPIC"):
        load_settings(BASE).require_topic()
    with pytest.raises(ConfigurationError, match="CMQ_ENDPOINT"):
        load_settings({**BASE, "MODERATION_TOPIC": "t"}).require_cmq_endpoint()
    endpoint = "http://gz.mqadapter.cmq.tencentyun.com/"
    assert load_settings({**BASE, "CMQ_ENDPOINT": endpoint}).require_cmq_endpoint() == endpoint.rstrip("/")


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = load_settings({**BASE, "TENCENTCLOUD_SESSIONTOKEN": "tokenxxxx"})
    text = repr(settings)
    assert "secretxxxx" not in text and "tokenxxxx" not in text and "AKIDxxxx" not in text
