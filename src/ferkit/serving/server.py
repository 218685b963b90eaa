"""Running the app under uvicorn with connection-level protection: a header-read timeout and idle closes.

uvicorn closes a keep-alive connection that stays idle after a response (`timeout_keep_alive`), but it waits
forever for the headers of a request: a client that connects and sends nothing, or sends its headers a byte at
a time (slowloris), holds a connection open indefinitely. `HeaderTimeoutH11Protocol` closes any connection
whose request headers are not complete `header_timeout` seconds after it opened or after the previous response
(the body has its own limit, `ServeSettings.body_timeout`). It extends uvicorn's h11 protocol, the one
uvicorn uses when `httptools` is not installed, and is selected explicitly so both installs behave the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5.0


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers take over `header_timeout` seconds."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        """Start the clock while a request's headers are awaited (on a new connection, or once the first bytes
        of the next request arrive on a kept-alive one) and stop it once they are complete; a kept-alive
        connection that stays silent is closed by uvicorn's keep-alive timeout instead."""
        awaiting_headers = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        idle_after_response = self.timeout_keep_alive_task is not None
        if awaiting_headers and not idle_after_response:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)
        else:
            self._stop_header_timer()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.logger.info("closing a connection whose request headers took over %g s", self.header_timeout)
            self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[HeaderTimeoutH11Protocol]:
    """The protocol class uvicorn should use (its `http` option) for a given header-read timeout."""
    return type("HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": seconds})


def server_options(header_timeout: float = HEADER_TIMEOUT,
                   keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT) -> dict[str, Any]:
    """uvicorn options (for `uvicorn.run` or `uvicorn.Config`) that close slow and idle connections."""
    return {"http": protocol_with_header_timeout(header_timeout), "timeout_keep_alive": keep_alive_timeout}


def run(app, host: str, port: int, log_config: dict[str, Any] | None) -> None:
    """Serve `app` on host:port until interrupted, with ferkit's JSON logging and connection limits."""
    uvicorn.run(app, host=host, port=port, log_config=log_config, access_log=False, **server_options())
