"""Reading an uploaded image from a request body: a multipart `file` field or the raw body, in memory.

The size limit is enforced while the body streams in, so an oversized upload is refused without being read
and nothing is ever written to disk.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ferkit.serving.errors import ApiError

MAX_BOUNDARY_LENGTH = 70  # RFC 2046 section 5.1.1; every browser and HTTP library stays within it

class MultipartFile:
    """Parses a multipart/form-data body as it streams in, keeping only the bytes of one field, in memory."""

    def __init__(self, boundary: bytes, field: str):
        self.field = field
        self.data = bytearray()
        self.filename: str | None = None
        self.found = False
        self.complete = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._in_field = False
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    def write(self, chunk: bytes) -> None:
        self._parser.write(chunk)

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).strip().lower()] = bytes(self._header_value).strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") == self.field and not self.found:
            self.found = self._in_field = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace") or None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field:
            self.data.extend(data[start:end])

    def _part_end(self) -> None:
        self._in_field = False

    def _end(self) -> None:
        self.complete = True


async def read_upload(request: Request, limit: int, timeout: float) -> tuple[bytes, str | None]:
    """The uploaded image bytes and file name, from a multipart `file` field or the raw body.

    Raises ApiError 413 as soon as more than `limit` bytes arrive (or are announced), 408 when the client
    takes longer than `timeout` seconds, 400 for a malformed or empty upload. Nothing is written to disk.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > limit:
            raise ApiError(413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    form: MultipartFile | None = None
    if media_type == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "multipart/form-data request without a boundary")
        if len(boundary) > MAX_BOUNDARY_LENGTH:
            raise ApiError(400, f"multipart boundary of {len(boundary)} characters exceeds the "
                                f"{MAX_BOUNDARY_LENGTH} that RFC 2046 allows")
        form = MultipartFile(boundary, "file")
    body = bytearray()
    received = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
                if form is None:
                    body.extend(chunk)
                else:
                    form.write(chunk)
    except TimeoutError:
        raise ApiError(408, f"request body not received within {timeout:g} s") from None
    except FormParserError as exc:
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    if form is None:
        if not body:
            raise ApiError(400, "empty body: send an image as the body or in a multipart 'file' field")
        return bytes(body), None
    if not form.complete:
        raise ApiError(400, "malformed multipart body: it ends before its closing boundary")
    if not form.found:
        raise ApiError(400, "multipart body has no 'file' field")
    if not form.data:
        raise ApiError(400, "the 'file' field is empty")
    return bytes(form.data), form.filename
