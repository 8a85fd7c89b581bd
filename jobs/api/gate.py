"""The API's door, before any route reads a byte of the request: the bearer token, the names
the API answers to, and the size of a request's body.

- With `api.token` set, every path but `/health` and the page's own files (`/`, `/static/`)
  wants `Authorization: Bearer <token>` (compared in constant time). The page asks for the
  token once and keeps it in the browser; it never travels in a URL, so no log holds it.
- Without a token the API listens on loopback only (jobs.api.server refuses otherwise), and
  answers only to loopback names in `Host`: a web page from elsewhere cannot reach it through a
  name that resolves to 127.0.0.1 (DNS rebinding), while a browser on this machine can.
- A body longer than `api.max_body_bytes` is refused with 413, by its Content-Length before
  it is read, or as soon as a chunked one passes the limit.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.config import LOOPBACK_HOSTS, ApiConfig

PUBLIC_PATHS = frozenset({"/", "/health"})
PUBLIC_PREFIXES = ("/static/",)


class BodyTooLarge(HTTPException):
    """A chunked body passed the limit while a route read it (the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes (api.max_body_bytes)")


class Gate:
    """ASGI middleware: the token, the Host check and the body limit, in that order."""

    def __init__(self, app: ASGIApp, conf: ApiConfig) -> None:
        self.app = app
        self.token = conf.token.get_secret_value().encode() if conf.token is not None else None
        self.max_body = conf.max_body_bytes
        self.origins = set(conf.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        path = scope["path"]
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if self.token is None and not _loopback_host(headers.get("host", b"").decode("latin-1")):
            await _refuse(send, 421, "this API answers to loopback names only (127.0.0.1, "
                          "localhost) until api.token is set")
            return
        if scope["method"] not in SAFE_METHODS and self._cross_site(headers):
            await _refuse(send, 403, "refused a request another site's page sent; call the "
                          "API from the studio page, a script, or an origin in api.cors_origins")
            return
        if self.token is not None and not public and not self._authorized(headers):
            await _refuse(send, 401, "give the API's token: Authorization: Bearer <api.token>",
                          [(b"www-authenticate", b'Bearer realm="studio-farm"')])
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, BodyTooLarge(self.max_body).detail)
            return
        await self._limited(scope, receive, send)

    def _cross_site(self, headers: dict[str, bytes]) -> bool:
        """A browser sent it from another site's page (what a cancel by a form post or a
        no-cors fetch would be): its Origin is neither this API's nor a configured one."""
        site = headers.get("sec-fetch-site", b"").decode("latin-1")
        if site in ("cross-site", "same-site"):
            return True
        origin = headers.get("origin")
        if origin is None:
            return False  # not a browser's cross-origin request (curl, scripts, same-origin GET)
        given = origin.decode("latin-1")
        own = {f"{scheme}://{headers.get('host', b'').decode('latin-1')}"
               for scheme in ("http", "https")}
        return given not in own and given not in self.origins

    def _authorized(self, headers: dict[str, bytes]) -> bool:
        scheme, _, given = headers.get("authorization", b"").partition(b" ")
        return (self.token is not None and scheme.lower() == b"bearer"
                and hmac.compare_digest(given.strip(), self.token))

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting the body as it arrives (a chunked one has no length)."""
        seen = [0]

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, counted, send)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback (with or without a port)."""
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.split(":", 1)[0]
    return name.lower() in LOOPBACK_HOSTS


async def _refuse(send: Send, status: int, detail: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
