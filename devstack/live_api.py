"""CSS `live` cloud API stand-in: callback templates and rules, as the 2018-08-01 API answers them.

The real tencentcloud-sdk-python-live client reaches it with
`HttpProfile(protocol="http", endpoint="127.0.0.1:PORT")`, so scripts/configure_callbacks.py is
tested through the SDK it uses in production. Like the real API it lets two templates share a
name (the script must not create a second one) and refuses a second rule for a domain + AppName.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from devstack.faults import FaultInjector
from devstack.servers import StandIn

API_VERSION = "2018-08-01"
MAX_TEMPLATES = 50
TEMPLATE_FIELDS = (
    "TemplateName",
    "Description",
    "StreamBeginNotifyUrl",
    "StreamMixNotifyUrl",
    "StreamEndNotifyUrl",
    "RecordNotifyUrl",
    "RecordStatusNotifyUrl",
    "SnapshotNotifyUrl",
    "PornCensorshipNotifyUrl",
    "CallbackKey",
    "PushExceptionNotifyUrl",
    "AudioAuditNotifyUrl",
    "RecordExceptionNotifyUrl",
)
URL_FIELDS = tuple(f for f in TEMPLATE_FIELDS if f.endswith("NotifyUrl"))
WRITE_ACTIONS = frozenset(
    {
        "CreateLiveCallbackTemplate",
        "ModifyLiveCallbackTemplate",
        "DeleteLiveCallbackTemplate",
        "CreateLiveCallbackRule",
        "DeleteLiveCallbackRule",
    }
)


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _answer(start_response: Callable[..., Any], response: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps({"Response": {**response, "RequestId": str(uuid.uuid4())}}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _live_error(status: int) -> tuple[str, bytes]:
    body = {"Response": {"Error": {"Code": "InternalError", "Message": f"injected fault {status}"}}}
    return "application/json", json.dumps(body).encode()


def _text(params: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError("MissingParameter", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ApiError("InvalidParameter", f"{name} must be a string")
    return value


class LiveApiStandIn(StandIn):
    def __init__(self, port: int = 0) -> None:
        self.templates: dict[int, dict[str, Any]] = {}
        self.rules: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._next_id = 100000
        self._lock = threading.Lock()
        self.serve(FaultInjector(self._app, _live_error), port)

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        """The calls that changed (or tried to change) something, in order."""
        with self._lock:
            return [call for call in self.calls if call[0] in WRITE_ACTIONS]

    # The API

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        action = environ.get("HTTP_X_TC_ACTION", "")
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("HTTP_AUTHORIZATION", "").startswith(
            "TC3-HMAC-SHA256 "
        ):
            return self._error(start_response, "AuthFailure.SignatureFailure", "missing TC3 signature")
        if environ.get("HTTP_X_TC_VERSION") != API_VERSION:
            return self._error(start_response, "InvalidParameter", f"version must be {API_VERSION}")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            params = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return self._error(start_response, "InvalidParameter", "body is not JSON")
        handler = getattr(self, f"_do_{action}", None)
        if handler is None:
            return self._error(start_response, "UnsupportedOperation", f"{action} is not served here")
        with self._lock:
            self.calls.append((action, params))
            try:
                response = handler(params)
            except ApiError as exc:
                return self._error(start_response, exc.code, exc.message)
        return _answer(start_response, response)

    @staticmethod
    def _error(start_response: Callable[..., Any], code: str, message: str) -> Iterable[bytes]:
        return _answer(start_response, {"Error": {"Code": code, "Message": message}})

    def _template(self, params: dict[str, Any]) -> dict[str, Any]:
        template_id = params.get("TemplateId")
        if not isinstance(template_id, int) or template_id not in self.templates:
            raise ApiError("InvalidParameter.TemplateNotFound", f"template {template_id} does not exist")
        return self.templates[template_id]

    def _do_CreateLiveCallbackTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _text(params, "TemplateName", required=True) or ""
        if not name or len(name.encode()) > 255:
            raise ApiError("InvalidParameter", "TemplateName must be 1-255 bytes")
        fields = {f: _text(params, f) or "" for f in TEMPLATE_FIELDS}
        if not any(fields[f] for f in URL_FIELDS):
            raise ApiError("InvalidParameter", "give at least one notify URL")
        if len(self.templates) >= MAX_TEMPLATES:
            raise ApiError("LimitExceeded", f"at most {MAX_TEMPLATES} callback templates")
        self._next_id += 1
        self.templates[self._next_id] = {"TemplateId": self._next_id, **fields}
        return {"TemplateId": self._next_id}

    def _do_ModifyLiveCallbackTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        template = self._template(params)
        for f in TEMPLATE_FIELDS:
            value = _text(params, f)
            if value is not None:  # fields left out keep their value
                template[f] = value
        return {}

    def _do_DeleteLiveCallbackTemplate(self, params: dict[str, Any]) -> dict[str, Any]:
        template = self._template(params)
        if any(rule["TemplateId"] == template["TemplateId"] for rule in self.rules):
            raise ApiError("InternalError.RuleInUsing", "the template is bound by a rule")
        del self.templates[template["TemplateId"]]
        return {}

    def _do_DescribeLiveCallbackTemplates(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Templates": [dict(t) for t in sorted(self.templates.values(), key=lambda t: t["TemplateId"])]}

    def _do_CreateLiveCallbackRule(self, params: dict[str, Any]) -> dict[str, Any]:
        domain = _text(params, "DomainName", required=True)
        app = _text(params, "AppName", required=True)
        template = self._template(params)
        if any(rule["DomainName"] == domain and rule["AppName"] == app for rule in self.rules):
            raise ApiError("FailedOperation.RuleAlreadyExist", f"a callback rule for {domain}/{app} exists")
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        self.rules.append(
            {
                "DomainName": domain,
                "AppName": app,
                "TemplateId": template["TemplateId"],
                "CreateTime": now,
                "UpdateTime": now,
            }
        )
        return {}

    def _do_DeleteLiveCallbackRule(self, params: dict[str, Any]) -> dict[str, Any]:
        domain = _text(params, "DomainName", required=True)
        app = _text(params, "AppName", required=True)
        kept = [r for r in self.rules if not (r["DomainName"] == domain and r["AppName"] == app)]
        if len(kept) == len(self.rules):
            raise ApiError("InvalidParameter.RuleNotFound", f"no callback rule for {domain}/{app}")
        self.rules = kept
        return {}

    def _do_DescribeLiveCallbackRules(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Rules": [dict(r) for r in self.rules]}
