"""The viewer's JSON API for alerts and analysts' decisions.

``GET /api/alerts?day=YYYY-MM-DD`` lists a day's alerts with their current decision, and
``GET /api/alerts/{alert_id}`` one alert with its decision history: reading is open, as the
pages are (the server listens on loopback). ``POST /api/alerts/{alert_id}/decision`` stores a
decision and needs an analyst's token (``Authorization: Bearer TOKEN``, made by
``fraud-platform analysts add``): 201 with the stored decision; 401 without a valid token, 404
for an unknown alert, 422 naming the field of a bad body, 413 for a body over `MAX_BODY_BYTES`.
Nothing is stored unless the answer is 201. Answers are never cached and carry the viewer's
security headers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from fraud_platform.defs.cases.logic import DecisionError, parse_decision
from fraud_platform.defs.cases.resources import (
    alerts_of_day,
    analyst_for_token,
    decision_history,
    find_alert,
    record_decision,
)
from fraud_platform.storage.warehouse import WarehouseError

if TYPE_CHECKING:
    from fraud_platform.viewer.server import ViewerApp

logger = logging.getLogger(__name__)

#: A decision's JSON is small; a note is at most 10,000 characters (`MAX_NOTE_CHARS`), so a
#: body over this is refused before it is parsed (a 1 MB note still gets a 422 naming ``note``).
MAX_BODY_BYTES = 2 * 1024 * 1024
API_PREFIX = "/api/"
API_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _plain(value: Any) -> Any:
    """A value JSON can hold: timestamps as ISO 8601, missing values as null."""
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or (isinstance(value, float) and value != value):
        return None
    if value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def json_response(
    status: int, value: object, headers: dict[str, str] | None = None
) -> HTTPResponse:
    body = json.dumps(value, allow_nan=False).encode("utf-8")
    return HTTPResponse(
        body, status, headers={**API_HEADERS, **(headers or {})}, media_type="application/json"
    )


def _error(status: int, message: str, **extra: object) -> HTTPResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
    return json_response(status, {"error": message, **extra}, headers)


def bearer_token(request: Request) -> str:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, `OverflowError` past ``limit`` bytes: refused at once when
    Content-Length says so, and counted as it arrives whatever Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise OverflowError
    size, parts = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OverflowError
        parts.append(chunk)
    return b"".join(parts)


async def read_json(request: Request) -> Any:
    """The request's JSON body; `DecisionError` for an unreadable one, `OverflowError` past
    `MAX_BODY_BYTES`."""
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise DecisionError("body", "is not valid JSON") from None


def api_routes(viewer: ViewerApp) -> list[Route]:
    """The API's routes over ``viewer``'s warehouse."""
    warehouse = viewer.warehouse
    schema = warehouse.schema_name

    def guarded(work: Callable[[], HTTPResponse], path: str) -> HTTPResponse:
        try:
            return work()
        except WarehouseError as error:
            logger.error("warehouse unavailable: %s", error)
            return _error(503, "the warehouse cannot be reached")
        except Exception:
            logger.exception("error answering %s", path)
            return _error(500, "the API failed; see the viewer's log")

    def list_day(request: Request) -> HTTPResponse:
        def work() -> HTTPResponse:
            text = request.query_params.get("day", "")
            try:
                day = date.fromisoformat(text).isoformat()
            except ValueError:
                return _error(422, "day: must be a date, YYYY-MM-DD", field="day")
            with warehouse.connect() as connection:
                alerts = alerts_of_day(connection, schema, day)
            return json_response(200, {"day": day, "alerts": _records(alerts)})

        return guarded(work, request.url.path)

    def one_alert(request: Request) -> HTTPResponse:
        def work() -> HTTPResponse:
            alert_id = request.path_params["alert_id"]
            with warehouse.connect() as connection:
                alert = find_alert(connection, schema, alert_id)
                history = decision_history(connection, schema, alert_id=alert_id)
            if alert is None:
                return _error(404, "there is no alert with this id")
            return json_response(
                200, {**{k: _plain(v) for k, v in alert.items()}, "decisions": _records(history)}
            )

        return guarded(work, request.url.path)

    async def decide(request: Request) -> HTTPResponse:
        token = bearer_token(request)
        if not token:
            return _error(401, "an analyst's token is needed: Authorization: Bearer TOKEN")
        try:
            decision = parse_decision(await read_json(request))
        except OverflowError:
            return _error(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
        except DecisionError as error:
            return _error(422, str(error), field=error.field)
        alert_id = request.path_params["alert_id"]

        def work() -> HTTPResponse:
            with warehouse.connect() as connection:
                analyst = analyst_for_token(connection, schema, token)
                if analyst is None:
                    return _error(401, "the token is not an active analyst's")
                stored = record_decision(connection, schema, alert_id, decision, analyst)
            if stored is None:
                return _error(404, "there is no alert with this id")
            logger.info(
                "%s %s alert %s (%s)", analyst, decision.decision, alert_id, stored["account"]
            )
            return json_response(201, {k: _plain(v) for k, v in stored.items()})

        return await run_in_threadpool(guarded, work, request.url.path)

    return [
        Route("/api/alerts", list_day, methods=["GET", "HEAD"]),
        Route("/api/alerts/{alert_id}", one_alert, methods=["GET", "HEAD"]),
        Route("/api/alerts/{alert_id}/decision", decide, methods=["POST"]),
    ]
