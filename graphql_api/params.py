"""Query parameters of the REST routes and the status page, parsed strictly: a value that is
not what the route takes is the caller's mistake (400), never a server error."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)  # ASCII digits only; 9 of them fit any Int


class BadParameter(ValueError):
    """A query parameter that does not parse; its message says what the route takes."""

    def json(self) -> Response:
        return JSONResponse({"error": str(self)}, status_code=400)

    def text(self) -> Response:
        return PlainTextResponse(str(self), status_code=400)


def whole_number(request: Request, name: str, default: int, low: int, high: int) -> int:
    """?NAME as a whole number in low..high; the default when it is absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadParameter(f"{name} must be a whole number from {low} to {high}, "
                           f"got {raw[:40]!r}")
    return int(raw)
