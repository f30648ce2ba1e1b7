"""EC2's query API, the part boto3's ec2 client needs for security groups.

``POST /`` with ``Content-Type: application/x-www-form-urlencoded`` and
``Action=CreateSecurityGroup&Version=2016-11-15&GroupName=...`` (lists as
``IpPermissions.1.IpRanges.1.CidrIp``); answers are XML in EC2's namespace, errors
``<Response><Errors><Error><Code>`` with HTTP 400, so botocore raises ``ClientError`` with
EC2's codes (``InvalidGroup.NotFound``...). The region is the SigV4 scope's, as for ECS.
"""

from __future__ import annotations

import logging
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from xml.etree import ElementTree as ET

from pyecs.exceptions import InvalidParameterError, PyecsError, SecurityGroupError
from pyecs.server._auth import Credentials, authenticate
from pyecs.server._ec2_groups import HANDLERS
from pyecs.server._ec2_query import FORM, NAMESPACE, Ec2Error, Query, is_query_request
from pyecs.server._errors import EcsError
from pyecs.server._state import ServerState
from pyecs.server._wire import DEFAULT_REGION, Receive, TooLarge, read_body

__all__ = ["FORM", "Ec2App", "is_query_request"]

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("pyecs.server")

#: How EC2 names the authentication errors the ECS side raises.
_AUTH_CODES: Final = {
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 401),
    "UnrecognizedClientException": ("AuthFailure", 401),
    "InvalidSignatureException": ("AuthFailure", 401),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
}


def _error_xml(exc: Ec2Error, request_id: str) -> bytes:
    root = ET.Element("Response")
    error = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
    ET.SubElement(error, "Code").text = exc.code
    ET.SubElement(error, "Message").text = exc.message
    ET.SubElement(root, "RequestID").text = request_id
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


def _from_pyecs(exc: PyecsError) -> Ec2Error:
    if isinstance(exc, SecurityGroupError):
        return Ec2Error(exc.code, str(exc))
    if isinstance(exc, InvalidParameterError):
        return Ec2Error("InvalidParameterValue", str(exc))
    return Ec2Error("InvalidParameterValue", str(exc))


class Ec2App:
    """The ASGI callable of EC2's query API at the server's endpoint.

    Args:
        state: The regions (each has its security groups).
        credentials: When given, every request must be SigV4-signed with one of them.
        max_body: The largest request body, in bytes.
    """

    def __init__(
        self, state: ServerState, *, credentials: Credentials | None, max_body: int
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        try:
            action, children = await self._handle(scope, receive)
            root = ET.Element(f"{action}Response", xmlns=NAMESPACE)
            ET.SubElement(root, "requestId").text = request_id
            root.extend(children)
            status = 200
            payload = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
        except Ec2Error as exc:
            status, payload = exc.status, _error_xml(exc, request_id)
        headers = [
            (b"content-type", b"text/xml;charset=UTF-8"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[str, list[ET.Element]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            raw = await read_body(receive, self.max_body)
        except TooLarge:
            too_large = f"the request body is larger than {self.max_body} bytes"
            raise Ec2Error("RequestEntityTooLarge", too_large, 413) from None
        try:
            auth = authenticate(scope, headers, raw, self.credentials)
        except EcsError as exc:
            code, status = _AUTH_CODES.get(exc.code, (exc.code, exc.status))
            raise Ec2Error(code, exc.message, status) from exc
        try:
            text = raw.decode("utf-8")
            query = scope.get("query_string", b"").decode("latin-1")
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            pairs += urllib.parse.parse_qsl(text, keep_blank_values=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Ec2Error("MalformedQueryString", f"the body is not a form: {exc}") from exc
        params = dict(pairs)
        action = params.pop("Action", "")
        if not action:
            raise Ec2Error("MissingAction", "The request must contain the parameter Action")
        if "Version" not in params:
            raise Ec2Error("MissingParameter", "The request must contain the parameter Version")
        handler = HANDLERS.get(action)
        if handler is None:
            raise Ec2Error(
                "InvalidAction",
                f"The action {action} is not valid for this web service: pyecs serve speaks "
                f"EC2's {', '.join(sorted(HANDLERS))} only",
            )
        region = self.state.region(auth.region if auth is not None else DEFAULT_REGION)
        request = Query(action, [(k, v) for k, v in pairs if k not in ("Action", "Version")])
        try:
            return action, await handler(region, request)
        except PyecsError as exc:
            raise _from_pyecs(exc) from exc
        except Ec2Error:
            raise
        except Exception as exc:
            log.exception("EC2 %s failed", action)
            raise Ec2Error("InternalError", f"{type(exc).__name__}: {exc}", 500) from exc
