"""COS stand-in: moto's S3 backend app on loopback, reached by the real COS SDK through a proxy.

The COS SDK is configured with `Scheme="http"` and `Proxies={"http": <stand-in URL>}`: it sends
its usual virtual-host requests to the stand-in, which moto answers as S3 would. `notify` binds a
function to the objects written under a prefix, as SCF's COS trigger does (583/31927): each write
it accepts is delivered as a `cos:ObjectCreated:Put` event, asynchronously, retried on failure.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote

from qcloud_cos import CosConfig, CosS3Client

from devstack.dev import DEV_CREDENTIALS, DEV_REGION, DEV_SESSION_TOKEN
from devstack.faults import FaultInjector
from devstack.servers import StandIn
from devstack.triggers import AsyncInvocations, cos_event

DEFAULT_REGION = DEV_REGION
DEFAULT_BUCKET = "live-callbacks-1250000000"
_app_lock = threading.Lock()


def _error_xml(code: str, message: str) -> bytes:
    """An error body as COS writes it (the SDK reads Code, Message, Resource and RequestId)."""
    return (
        "<?xml version='1.0' encoding='utf-8' ?><Error>"
        f"<Code>{code}</Code><Message>{message}</Message><Resource>stand-in</Resource>"
        f"<RequestId>{uuid.uuid4().hex}</RequestId><TraceId>stand-in</TraceId></Error>"
    ).encode()


def _cos_error(status: int) -> tuple[str, bytes]:
    code = {403: "AccessDenied", 500: "InternalError", 503: "ServiceUnavailable"}.get(status, "InjectedError")
    return "application/xml", _error_xml(code, "injected fault")


class CosDialect:
    """Speaks COS to moto's S3 app.

    - `x-cos-meta-*` is S3's `x-amz-meta-*` (both ways), `x-cos-acl` is `x-amz-acl`;
    - `x-cos-forbid-overwrite: true` (create only if absent) is answered as COS does, 409
      FileAlreadyExists, and atomically.

    moto's backends are not thread-safe (a listing that meets a concurrent PUT can fail inside moto,
    getmoto/moto#372), while COS is: every request reaches moto under one lock, its answer read
    whole. Fault injection sits outside (devstack/faults.py), so a hanging answer holds no lock.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for name in [n for n in environ if n.startswith("HTTP_X_COS_META_")]:
            environ["HTTP_X_AMZ_META_" + name[len("HTTP_X_COS_META_") :]] = environ.pop(name)
        if "HTTP_X_COS_ACL" in environ:  # canned ACLs: private, public-read
            environ["HTTP_X_AMZ_ACL"] = environ.pop("HTTP_X_COS_ACL")
        forbid_overwrite = environ.pop("HTTP_X_COS_FORBID_OVERWRITE", "").lower() == "true"
        refused: list[bool] = []

        def cos_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            if forbid_overwrite and status.startswith("412"):
                refused.append(True)
                body = _exists_body()
                status, headers = (
                    "409 Conflict",
                    [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
                )
            renamed = [
                ("x-cos-meta-" + k[len("x-amz-meta-") :].lower() if k.lower().startswith("x-amz-meta-") else k, v)
                for k, v in headers
            ]
            return start_response(status, renamed, *args)

        if forbid_overwrite and environ.get("REQUEST_METHOD") == "PUT":
            environ["HTTP_IF_NONE_MATCH"] = "*"
        with self._lock:
            chunks = list(self.app(environ, cos_start_response))
        return [_exists_body()] if refused else chunks


def _exists_body() -> bytes:
    return _error_xml("FileAlreadyExists", "the object exists and x-cos-forbid-overwrite is true")


class RequireToken:
    """Refuses a request without the session token, as COS refuses temporary keys without theirs
    (a function that dropped SCF's `TENCENTCLOUD_SESSIONTOKEN` fails here as it would in the cloud).

    As COS does, it also reads a presigned URL (signature and token in the query, as
    `get_presigned_url` makes them; handed on as the signed request it stands for), and lets an
    unsigned GET/HEAD through to the object's ACL (`x-cos-acl: public-read` objects, such as the
    demo's snapshot pictures, which a browser loads path-style: http://127.0.0.1:port/bucket/key)."""

    def __init__(self, app: Callable[..., Any], token: str = DEV_SESSION_TOKEN) -> None:
        self.app = app
        self.token = token

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING") or "")
        if "HTTP_AUTHORIZATION" not in environ and "q-signature" in query:  # a presigned URL
            environ["HTTP_AUTHORIZATION"] = environ.get("QUERY_STRING") or ""
            environ.setdefault("HTTP_X_COS_SECURITY_TOKEN", query.get("x-cos-security-token", [""])[0])
        anonymous = "HTTP_AUTHORIZATION" not in environ and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
        if not anonymous and environ.get("HTTP_X_COS_SECURITY_TOKEN") != self.token:
            body = _error_xml("InvalidAccessKeyId", "temporary credentials need x-cos-security-token")
            start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)  # type: ignore[no-any-return]


class Notifications:
    """COS's bucket notifications to SCF: after a PUT Object is answered 200, every trigger whose
    bucket and key prefix match gets the COS trigger event. As SCF refuses it, a second trigger with
    the same bucket, event and prefix is refused ("one rule triggers one function")."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._rules: dict[tuple[str, str], AsyncInvocations] = {}
        self._lock = threading.Lock()

    def bind(self, bucket: str, prefix: str, invocations: AsyncInvocations) -> None:
        with self._lock:
            for bound, other in self._rules:
                if bound == bucket and (other.startswith(prefix) or prefix.startswith(other)):
                    raise ValueError(f"bucket {bucket} already triggers a function for prefix {other!r}")
            self._rules[(bucket, prefix)] = invocations

    def unbind(self, invocations: AsyncInvocations) -> None:
        with self._lock:
            for rule in [r for r, bound in self._rules.items() if bound is invocations]:
                del self._rules[rule]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "PUT" or environ.get("QUERY_STRING") or not self._rules:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        answered: list[str] = []

        def noting(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            answered.append(status)
            return start_response(status, headers, *args)

        written = dict(environ)  # as it arrived: the layers below rename the metadata headers
        chunks = list(self.app(environ, noting))
        if answered and answered[0].startswith("200"):
            self._notify(written)
        return chunks

    def _notify(self, environ: dict[str, Any]) -> None:
        host = environ.get("HTTP_HOST", "").split(":")[0]
        if ".cos." not in host:  # path-style writes are not made by the SDK
            return
        bucket, _, rest = host.partition(".cos.")
        region = rest.removesuffix(".myqcloud.com")
        key = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace").lstrip("/")
        meta = {
            "x-cos-meta-" + name[len("HTTP_X_COS_META_") :].lower().replace("_", "-"): value
            for name, value in environ.items()
            if name.startswith("HTTP_X_COS_META_")
        }
        with self._lock:
            targets = [inv for (b, prefix), inv in self._rules.items() if b == bucket and key.startswith(prefix)]
        for invocations in targets:
            event = cos_event(
                bucket,
                region,
                key,
                int(environ.get("CONTENT_LENGTH") or 0),
                meta,
                authorization=environ.get("HTTP_AUTHORIZATION", ""),
            )
            invocations.deliver(event, label=key)


class CosStandInAccess:
    """A client's view of a running COS stand-in at `url`: the SDK pointed at it, its buckets, the
    public URL of an object. The stand-in itself is one; `RemoteCosStandIn` reaches one that runs
    in another process (the local stack's, from its .local/stack.env)."""

    url: str

    def client(self, region: str = DEFAULT_REGION) -> CosS3Client:
        config = CosConfig(
            Region=region,
            SecretId=DEV_CREDENTIALS["TENCENTCLOUD_SECRETID"],
            SecretKey=DEV_CREDENTIALS["TENCENTCLOUD_SECRETKEY"],
            Token=DEV_SESSION_TOKEN,
            Scheme="http",
            Proxies={"http": self.url},
            Timeout=10,
        )
        return CosS3Client(config, retry=0)

    def create_bucket(self, bucket: str = DEFAULT_BUCKET, region: str = DEFAULT_REGION) -> str:
        self.client(region).create_bucket(Bucket=bucket)
        return bucket

    def public_url(self, bucket: str, key: str) -> str:
        """Where a browser reads a public-read object (path-style, on loopback)."""
        return f"{self.url}/{bucket}/{quote(key.lstrip('/'))}"


class RemoteCosStandIn(CosStandInAccess):
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")


class CosStandIn(CosStandInAccess, StandIn):
    def __init__(self, port: int = 0) -> None:
        from moto.server import create_backend_app  # dev-only dependency

        with _app_lock:
            app = create_backend_app("s3")
        self.notifications = Notifications(CosDialect(app))
        self.serve(FaultInjector(RequireToken(self.notifications), _cos_error), port)

    def notify(
        self,
        bucket: str,
        prefix: str,
        handler: Callable[[dict[str, Any]], Any],
        retries: int | None = None,
        retry_delay: float = 0.2,
    ) -> AsyncInvocations:
        """Trigger `handler(event)` for every object later written to `bucket` under `prefix`."""
        retried = {} if retries is None else {"retries": retries}
        invocations = AsyncInvocations(handler, retry_delay=retry_delay, **retried)
        self.notifications.bind(bucket, prefix, invocations)
        return invocations

    def unnotify(self, invocations: AsyncInvocations) -> None:
        self.notifications.unbind(invocations)

    def env(self, bucket: str = DEFAULT_BUCKET, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Function environment variables that point the COS SDK at this stand-in."""
        return {"COS_BUCKET": bucket, "COS_REGION": region, "COS_SCHEME": "http", "COS_PROXY": self.url}

    def objects(self, bucket: str, prefix: str = "", region: str = DEFAULT_REGION) -> dict[str, bytes]:
        """Every object under `prefix`, key -> bytes (for assertions and the timeline)."""
        client = self.client(region)
        found: dict[str, bytes] = {}
        marker = ""
        while True:
            page: dict[str, Any] = client.list_objects(Bucket=bucket, Prefix=prefix, Marker=marker, MaxKeys=1000)
            contents = page.get("Contents") or []
            for item in contents:
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].get_raw_stream().read()
                found[item["Key"]] = body
            if page.get("IsTruncated") != "true" or not contents:
                return found
            marker = page.get("NextMarker") or contents[-1]["Key"]
