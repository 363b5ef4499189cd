"""Pictures for the demo: tiny generated images on the COS stand-in, so the console shows pictures.

CSS stores snapshots and moderation screenshots in buckets of its own and sends their URLs
(`pic_full_url`, `img`). The demo cannot reach those, so it puts a small generated PNG (a few
hundred bytes: the stream's colour, a bar that moves with time, stripes on a hit) for each one
into a bucket of the stand-in, public-read as CSS's picture buckets usually are, and points the
payloads' URLs at it.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devstack.cos import CosStandInAccess, RemoteCosStandIn

MEDIA_BUCKET = "live-media-1250000000"
WIDTH, HEIGHT = 160, 90
HIT_COLOURS = {"Block": (207, 34, 46), "Review": (212, 167, 44), "Pass": (45, 164, 78)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def picture(seed: str, moment: int, hit: str | None = None) -> bytes:
    """A PNG: a gradient in the stream's colour, a light bar whose place follows `moment`, and
    for a moderation hit diagonal stripes in the suggestion's colour."""
    digest = hashlib.sha256(seed.encode()).digest()
    base = (60 + digest[0] % 140, 60 + digest[1] % 140, 60 + digest[2] % 140)
    bar = (moment // 60 * 13) % WIDTH
    stripe = HIT_COLOURS.get(hit or "")
    light, striped = b"\xf0\xf0\xf0", bytes(stripe) if stripe else b""
    rows = bytearray()
    for y in range(HEIGHT):
        shade = 0.55 + 0.45 * y / HEIGHT
        plain = bytes(int(c * shade) for c in base)  # the row's colour, computed once per row
        rows.append(0)  # filter: none
        rows += b"".join(
            striped if stripe and (x + y) // 8 % 3 == 0 else light if abs(x - bar) < 6 else plain for x in range(WIDTH)
        )
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def attach_pictures(
    cos: CosStandInAccess, payloads: Iterable[tuple[str, dict[str, Any]]], bucket: str = MEDIA_BUCKET
) -> int:
    """Upload a picture for every snapshot and moderation hit among `payloads` ((kind, payload)
    pairs, changed in place) and point its URL at the stand-in. Returns how many were uploaded."""
    cos.create_bucket(bucket)
    client = cos.client()
    uploads: list[tuple[str, bytes]] = []
    for kind, payload in payloads:
        if kind == "snapshot":
            key = str(payload["pic_url"]).lstrip("/")
            image = picture(str(payload["stream_id"]), int(payload["create_time"]))
            payload["pic_full_url"] = cos.public_url(bucket, key)
        elif kind == "porn_detect":
            stream, moment = str(payload["streamId"]), int(payload["screenshotTime"])
            key = f"moderation/{stream}/{moment}.png"
            image = picture(stream, moment, str(payload.get("suggestion") or "Review"))
            payload["img"] = cos.public_url(bucket, key)
        else:
            continue
        uploads.append((key, image))

    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=item[0], Body=item[1], ContentType="image/png", ACL="public-read")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, uploads))
    return len(uploads)


def attach_for_local_stack(
    base_url: str | None, env: dict[str, str], payloads: Iterable[tuple[str, dict[str, Any]]]
) -> bool:
    """When traffic goes to the running local stack (its .local/stack.env names `base_url` as its
    gateway), give its snapshots and hits pictures on that stack's COS stand-in, as the demo does,
    so its console shows them. False (nothing changed) for any other target."""
    gateway, cos_url = env.get("LOCAL_GATEWAY_URL", ""), env.get("COS_PROXY", "")
    if not base_url or not cos_url or gateway.rstrip("/") != base_url.rstrip("/"):
        return False
    attach_pictures(RemoteCosStandIn(cos_url), payloads)
    return True
