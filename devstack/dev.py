"""The development identity: the documented dev callback key and the stand-ins' credentials.

Imported by the stand-ins, the payload builders and the tools alike, so nothing needs the whole
stack just to know the dev key. Never used by a deployed function.
"""

from __future__ import annotations

DEV_CALLBACK_KEY = "local-dev-callback-key"
"""The documented development callback key, used when LIVE_CALLBACK_KEYS is not set."""

DEV_REGION = "ap-guangzhou"

DEV_CREDENTIALS = {
    "TENCENTCLOUD_SECRETID": "AKIDlocalDevelopmentOnly0000",
    "TENCENTCLOUD_SECRETKEY": "localDevelopmentSecretKey0000",
    "TENCENTCLOUD_SESSIONTOKEN": "localDevelopmentSessionToken0000",
    "TENCENTCLOUD_REGION": DEV_REGION,
}
"""Temporary credentials as SCF gives them to a function; the stand-ins refuse a request without
the session token, as COS and TDMQ refuse temporary keys without theirs."""

DEV_SESSION_TOKEN = DEV_CREDENTIALS["TENCENTCLOUD_SESSIONTOKEN"]
