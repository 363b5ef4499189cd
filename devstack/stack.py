"""The development stack: COS and TDMQ stand-ins started together, and the environment that
points the functions at them (the same variables a deployed function reads)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from devstack.cos import DEFAULT_BUCKET, CosStandIn
from devstack.dev import DEV_CALLBACK_KEY, DEV_CREDENTIALS
from devstack.tdmq import DEFAULT_TOPIC, TdmqStandIn

__all__ = ["DEV_CALLBACK_KEY", "DEV_CREDENTIALS", "DevStack"]


class DevStack:
    def __init__(
        self,
        journal: Path | None = None,
        echo: Callable[[dict[str, Any]], None] | None = None,
        cos_port: int = 0,
        tdmq_port: int = 0,
    ) -> None:
        self.cos = CosStandIn(port=cos_port)
        self.tdmq = TdmqStandIn(journal=journal, echo=echo, port=tdmq_port)

    def start(self, bucket: str = DEFAULT_BUCKET) -> DevStack:
        self.cos.start()
        self.tdmq.start()
        self.cos.create_bucket(bucket)
        return self

    def stop(self) -> None:
        self.cos.stop()
        self.tdmq.stop()

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(
        self,
        callback_keys: Iterable[str] = (DEV_CALLBACK_KEY,),
        bucket: str = DEFAULT_BUCKET,
        topic: str = DEFAULT_TOPIC,
    ) -> dict[str, str]:
        return {
            "LIVE_CALLBACK_KEYS": ",".join(callback_keys),
            **self.cos.env(bucket),
            **self.tdmq.env(topic),
            **DEV_CREDENTIALS,
        }
