"""The ASGI application: ECS JSON 1.1 in, ECS JSON 1.1 out.

``POST /`` with ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Action>`` and
``Content-Type: application/x-amz-json-1.1``; errors as ``{"__type", "message"}`` with
the status botocore maps to its exception classes. Form-encoded requests without
``X-Amz-Target`` are EC2's query API (:mod:`pyecs.server._ec2`), and Application Auto
Scaling's actions (``AnyScaleFrontendService.<Action>``) are served at the same endpoint.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from pyecs.exceptions import PyecsError
from pyecs.server import _aas
from pyecs.server._actions import HANDLERS, REFUSED
from pyecs.server._auth import Credentials, authenticate
from pyecs.server._call import Call
from pyecs.server._ec2 import Ec2App, is_query_request
from pyecs.server._errors import EcsError, client, from_pyecs
from pyecs.server._params import Params
from pyecs.server._state import ServerState
from pyecs.server._wire import DEFAULT_REGION, TooLarge, read_body

__all__ = ["DEFAULT_REGION", "MAX_BODY", "TARGET_PREFIX", "EcsApp"]

TARGET_PREFIX: Final = "AmazonEC2ContainerServiceV20141113."
CONTENT_TYPE: Final = "application/x-amz-json-1.1"
#: The largest request body accepted (ECS's own limit on a task definition is 64 KiB).
MAX_BODY: Final = 1024 * 1024
#: The handlers of each API served, by X-Amz-Target prefix.
_ROUTES: Final = {TARGET_PREFIX: HANDLERS, _aas.TARGET_PREFIX: _aas.HANDLERS}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("pyecs.server")


class EcsApp:
    """The ASGI callable of ``pyecs serve``.

    Args:
        state: The regions and clusters it serves.
        credentials: When given, every request must be SigV4-signed with one of them.
        max_body: The largest request body, in bytes.
    """

    def __init__(
        self,
        state: ServerState,
        *,
        credentials: Credentials | None = None,
        max_body: int = MAX_BODY,
        after_write: Callable[[str, Call], Awaitable[None]] | None = None,
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.max_body = max_body
        self.after_write = after_write
        #: EC2's query API (security groups), at the same endpoint.
        self.ec2 = Ec2App(state, credentials=credentials, max_body=max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if is_query_request(scope):
            await self.ec2(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        try:
            status, body = await self._handle(scope, receive)
        except EcsError as exc:
            status, body = exc.status, exc.body()
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        if "__type" in body:
            headers.append((b"x-amzn-errortype", str(body["__type"]).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            raw = await read_body(receive, self.max_body)
        except TooLarge:
            raise EcsError(
                "RequestEntityTooLargeException",
                f"the request body is larger than {self.max_body} bytes",
                413,
            ) from None
        auth = authenticate(scope, headers, raw, self.credentials)
        target = headers.get("x-amz-target", "")
        prefix = next((p for p in _ROUTES if target.startswith(p)), None)
        if scope["method"] != "POST" or prefix is None:
            raise EcsError(
                "UnknownOperationException",
                f"unknown operation {target or '(no X-Amz-Target header)'}: send POST / with "
                f"X-Amz-Target: {TARGET_PREFIX}<Action>",
                404,
            )
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type != CONTENT_TYPE:
            raise EcsError(
                "UnknownOperationException",
                f"content type {content_type or '(none)'!r} is not {CONTENT_TYPE}",
                404,
            )
        action = target[len(prefix) :]
        handler = _ROUTES[prefix].get(action)
        if handler is None:
            if prefix == TARGET_PREFIX and action in REFUSED:
                raise client(f"pyecs serve does not support {action}: {REFUSED[action]}")
            raise EcsError("UnknownOperationException", f"unknown operation {action!r}", 404)
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise EcsError("SerializationException", f"the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EcsError("SerializationException", "the body must be a JSON object")
        region = self.state.region(auth.region if auth is not None else DEFAULT_REGION)
        call = Call(self.state, region, Params(action, data))
        try:
            result = await handler(call)
        except PyecsError as exc:
            raise from_pyecs(exc) from exc
        except EcsError:
            raise
        except Exception as exc:
            log.exception("%s failed", action)
            raise EcsError("ServerException", f"{type(exc).__name__}: {exc}", 500) from exc
        if self.after_write is not None and not action.startswith(("Describe", "List")):
            await self.after_write(action, call)
        return 200, result


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
