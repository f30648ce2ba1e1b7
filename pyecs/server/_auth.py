"""SigV4: where a request says its region is, and (with credentials) checking its signature.

The region and account partition of each request comes from the credential scope of its
``Authorization`` header (``Credential=AKID/20261129/<region>/ecs/aws4_request``). When
credentials are configured, the signature is recomputed with botocore's own SigV4 signer
and compared; AWS's error kinds are answered when it is missing or wrong.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import attrs

from pyecs.server._errors import EcsError
from pyecs.server._wire import request_url

__all__ = ["Credentials", "Scope", "authenticate", "parse_scope", "verify"]

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]+)\s*$"
)

#: Access key id -> secret access key.
Credentials = Mapping[str, str]


@attrs.frozen
class Scope:
    """What the ``Authorization`` header says about the caller."""

    access_key: str
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    #: The signing name (``ecs``, ``ec2``): it is part of the signature.
    service: str = "ecs"


def parse_scope(authorization: str | None) -> Scope | None:
    """The SigV4 scope of an ``Authorization`` header, or None without a SigV4 one."""
    if not authorization:
        return None
    m = _AUTH.match(authorization)
    if m is None:
        return None
    return Scope(
        m.group("akid"),
        m.group("region"),
        tuple(m.group("signed").split(";")),
        m["signature"],
        m.group("service"),
    )


def authenticate(
    asgi_scope: MutableMapping[str, Any],
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials | None,
) -> Scope | None:
    """The request's SigV4 scope (its region), verified when ``credentials`` are set.

    Raises:
        EcsError: as :func:`verify`.
    """
    auth = parse_scope(headers.get("authorization"))
    if credentials is not None:
        verify(
            auth,
            credentials,
            method=asgi_scope["method"],
            url=request_url(asgi_scope, headers),
            headers=headers,
            body=body,
        )
    return auth


def verify(
    scope: Scope | None,
    credentials: Credentials,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
) -> None:
    """Check the request's SigV4 signature against the configured credentials.

    Raises:
        EcsError: ``MissingAuthenticationTokenException`` (no SigV4 header),
            ``UnrecognizedClientException`` (unknown access key) or
            ``InvalidSignatureException`` (the signature does not match), as AWS answers.
    """
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    if scope is None:
        raise EcsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    secret = credentials.get(scope.access_key)
    if secret is None:
        raise EcsError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    amz_date = headers.get("x-amz-date", "")
    if "host" not in scope.signed_headers or not amz_date:
        raise EcsError(
            "IncompleteSignatureException",
            "the SigV4 signature must sign the host header and carry X-Amz-Date",
        )
    signed = {name: headers.get(name, "") for name in scope.signed_headers}
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=signed)
    request.context["timestamp"] = amz_date
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(scope.access_key, secret), scope.service, scope.region
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, scope.signature):
        raise EcsError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            403,
        )
