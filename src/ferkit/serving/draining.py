"""Reading and discarding the rest of a refused request body before answering, so every client sees the answer.

A client that sends its whole body before reading (Python's `urllib`, anything with `Connection: close`)
gets a TCP reset instead of the 413 if the server answers early and closes with the body unread: the unread
bytes make the kernel reset the connection, and the client's next write or read fails before the answer is
read. nginx solves this with a "lingering close"; this middleware does the same inside ASGI: when the app
starts a response while the request body is still arriving, the rest is read and thrown away first — up to
`max_bytes`, and only while it keeps coming (a pause of `idle_timeout` seconds ends it). Bodies announced
as larger than `max_bytes`, clients waiting for `100 Continue` (they have sent nothing) and 408 answers (the
client is too slow already) are answered at once.
"""

from __future__ import annotations

import asyncio
import time


class DrainUnreadBody:
    """ASGI middleware: discard the unread rest of a request body (bounded) before the response starts."""

    def __init__(self, app, max_bytes: int, idle_timeout: float = 2.0, total_timeout: float = 30.0):
        self.app = app
        self.max_bytes = max_bytes
        self.idle_timeout = idle_timeout
        self.total_timeout = total_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = {"complete": False, "receive_called": False}

        async def tracking_receive():
            body["receive_called"] = True
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body["complete"] = True
            return message

        async def draining_send(message):
            if message["type"] == "http.response.start" and not body["complete"] and \
                    self._worth_draining(scope, message["status"], body["receive_called"]):
                await self._drain(receive)
                body["complete"] = True
            await send(message)

        await self.app(scope, tracking_receive, draining_send)

    def _worth_draining(self, scope, status: int, receive_called: bool) -> bool:
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return False  # too much to read for nothing: answer now and close
        if not receive_called and b"100-continue" in headers.get(b"expect", b"").lower():
            return False  # the client sends nothing until the server asks for it
        return status != 408

    async def _drain(self, receive) -> None:
        drained = 0
        deadline = time.monotonic() + self.total_timeout
        while drained <= self.max_bytes:
            wait = min(self.idle_timeout, deadline - time.monotonic())
            if wait <= 0:
                return
            try:
                async with asyncio.timeout(wait):
                    message = await receive()
            except TimeoutError:
                return
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
