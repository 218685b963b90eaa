"""The service's refusals: `ApiError` and the `{"error": message}` JSON every error status answers with."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """A request the service refuses: answered with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON body of every error answer: `{"error": message}`."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)
