"""The analysts' workplace in the viewer: login, the alert queue, case pages and decisions.

Routes: ``GET/POST /login``, ``POST /logout``, ``GET /alerts`` (the queue), ``GET
/alerts/{alert_id}`` (a case) and ``POST /alerts/{alert_id}/decision``. Reading is open, as the
other pages are (the server listens on loopback); writing needs a session, which ``POST
/login`` starts for an analyst's token (`fraud_platform.defs.cases.sessions`): its id is in an
HttpOnly, SameSite=Strict cookie (Secure over https) and the warehouse keeps only its hash.

Every POST is refused (403, nothing stored) when its ``Origin`` or ``Referer`` names another
origin or its CSRF token is not the session's (for the login form: not the one in the login
cookie, a double submit). Bodies over `MAX_FORM_BYTES` get 413 before they are parsed. The
pages set ``Referrer-Policy: same-origin`` (the viewer's ``no-referrer`` would make browsers
send ``Origin: null`` with the forms) and are never stored by caches or compressed (they carry
the CSRF token, and a compressed secret beside reflected text leaks through its length).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route
from starlette.types import Message

from fraud_platform.defs.cases import queue
from fraud_platform.defs.cases.logic import MAX_NOTE_CHARS, DecisionError, parse_decision
from fraud_platform.defs.cases.resources import (
    analyst_for_token,
    decision_history,
    ensure_case_tables,
    record_decision,
)
from fraud_platform.defs.cases.sessions import (
    SESSION_LIFETIME,
    AnalystSession,
    end_session,
    find_session,
    start_session,
)
from fraud_platform.viewer import case_pages
from fraud_platform.viewer.api import read_body
from fraud_platform.viewer.case_pages import LOGIN_PATH, QUEUE_PATH, Visitor, case_path

if TYPE_CHECKING:
    import psycopg

    from fraud_platform.viewer.server import Response, ViewerApp

logger = logging.getLogger(__name__)

SESSION_COOKIE = "fraud_session"
LOGIN_COOKIE = "fraud_login_csrf"
#: A form is a token or a decision with a note of at most 10,000 characters; a body over this
#: is refused unread (a 1 MB note still gets a 422 naming the note).
MAX_FORM_BYTES = 2 * 1024 * 1024
_MAX_FIELDS = 16
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
#: A safe place to go after logging in: a path on this server, no scheme, host or backslash.
_LOCAL_PATH = re.compile(r"^/(?![/\\])[^\\\s]*$")

#: Cookies an answer sets (name -> value) or deletes (name -> None).
Cookies = dict[str, str | None]


class FormTooLarge(Exception):
    """The request's body is over `MAX_FORM_BYTES`."""


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of ``url``, default ports filled in; None for ``null`` or junk."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def same_origin(request: Request) -> bool:
    """Whether the POST comes from the viewer's own pages: its ``Origin`` (or, without one, its
    ``Referer``) is this server's. A request with neither (no browser sends that with a form)
    is left to the CSRF token; ``Origin: null`` is refused."""
    own = _origin(f"{request.url.scheme}://{request.url.netloc}")
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    return own is not None and _origin(claimed) == own


async def read_form(request: Request) -> FormData:
    """The request's urlencoded or multipart form, at most `MAX_FORM_BYTES` (counted as it
    arrives, whatever Content-Length says); `FormTooLarge` past that."""
    try:
        body = await read_body(request, MAX_FORM_BYTES)
    except OverflowError:
        raise FormTooLarge from None

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    # python-multipart parses the buffered body; no files, few fields, no field above the cap.
    return await Request(request.scope, replay).form(
        max_files=0, max_fields=_MAX_FIELDS, max_part_size=MAX_FORM_BYTES
    )


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _tokens_match(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def _next_path(text: str) -> str:
    return text if _LOCAL_PATH.match(text or "") else QUEUE_PATH


def _parse_filters(request: Request) -> tuple[queue.QueueFilter, str, str | None]:
    """The queue's filters from the query, the day as typed, and what is wrong with them."""
    params = request.query_params
    day_text = params.get("day", "").strip()
    pattern = params.get("pattern", "").strip() or None
    status = params.get("status", "").strip() or "open"
    page_text = params.get("page", "").strip() or "1"
    problems = []
    day = None
    if day_text:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            problems.append("day: must be a date, YYYY-MM-DD")
    if status not in queue.STATUSES:
        problems.append(f"status: must be one of {', '.join(queue.STATUSES)}")
        status = "open"
    page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 0
    if page < 1:
        problems.append("page: must be a whole number from 1")
        page = 1
    filters = queue.QueueFilter(day=day, pattern=pattern, status=status, page=page)
    return filters, day_text, "; ".join(problems) or None


def case_routes(
    viewer: ViewerApp, respond: Callable[[Request, Response], HTTPResponse]
) -> list[Route]:
    """The workplace's routes over ``viewer``'s warehouse; ``respond`` turns a page into HTTP
    with the viewer's security headers."""
    warehouse = viewer.warehouse
    schema = warehouse.schema_name

    def page(text: str, status: int = 200) -> Response:
        response = viewer.html(text, status)
        response.headers.update(PAGE_HEADERS)
        response.gzipped = None
        return response

    def redirect(location: str) -> Response:
        response = viewer.html("", 303)
        response.headers.update({**PAGE_HEADERS, "Location": location})
        response.gzipped = None
        return response

    def error(status: int, title: str, message: str) -> Response:
        response = viewer.error(status, title, message)
        response.headers.update(PAGE_HEADERS)
        return response

    def send(request: Request, response: Response, cookies: Cookies) -> HTTPResponse:
        """``response`` with ``cookies`` set or deleted (not on a failure's page)."""
        http = respond(request, response)
        if response.status >= 500:
            return http
        secure = request.url.scheme == "https"
        for name, value in cookies.items():
            path = LOGIN_PATH if name == LOGIN_COOKIE else "/"
            if value is None:
                http.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="strict")
            else:
                max_age = int(SESSION_LIFETIME.total_seconds()) if name == SESSION_COOKIE else None
                http.set_cookie(
                    name,
                    value,
                    max_age=max_age,
                    path=path,
                    secure=secure,
                    httponly=True,
                    samesite="strict",
                )
        return http

    def answer(request: Request, work: Callable[[Cookies], Response]) -> HTTPResponse:
        """``work``'s page, its failures as the viewer's error pages (503 for the warehouse)."""
        cookies: Cookies = {}
        response = viewer.answer(lambda: work(cookies), path=request.url.path)
        return send(request, response, cookies)

    @contextmanager
    def connected() -> Iterator[psycopg.Connection]:
        """A warehouse connection with the case tables ensured (once per request) and without
        JIT, which costs tens of milliseconds and saves nothing on index probes."""
        with warehouse.connect() as connection:
            ensure_case_tables(connection, schema)
            connection.execute("SET LOCAL jit = off")
            yield connection

    def session_of(connection: psycopg.Connection, request: Request) -> AnalystSession | None:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        return find_session(connection, schema, session_id) if session_id else None

    def visitor_of(session: AnalystSession | None) -> Visitor:
        return Visitor() if session is None else Visitor(session.analyst, session.csrf_token)

    async def guarded_form(request: Request) -> FormData | HTTPResponse:
        """The POST's form, or the refusal of a foreign origin (403) or a large body (413)."""
        if not same_origin(request):
            logger.warning("refused a POST to %s from another origin", request.url.path)
            return send(
                request, error(403, "Forbidden", "This form was sent from another site."), {}
            )
        try:
            return await read_form(request)
        except FormTooLarge:
            message = f"The form is over {MAX_FORM_BYTES:,} bytes; nothing was stored."
            return send(request, error(413, "Form too large", message), {})

    # -- login ------------------------------------------------------------------------------------

    def login_page(
        request: Request,
        cookies: Cookies,
        visitor: Visitor,
        next_path: str,
        *,
        status: int = 200,
        error_text: str | None = None,
    ) -> Response:
        """The login form, with the browser's login cookie (set here when it has none)."""
        login_csrf = request.cookies.get(LOGIN_COOKIE, "")
        if not _TOKEN_SHAPE.match(login_csrf):
            login_csrf = cookies[LOGIN_COOKIE] = secrets.token_urlsafe(32)
        text = case_pages.login_page(
            visitor, login_csrf=login_csrf, next_path=next_path, error=error_text
        )
        return page(text, status)

    async def login(request: Request) -> HTTPResponse:
        """GET and HEAD show the form; POST checks the token and starts a session."""
        if request.method != "POST":

            def show(cookies: Cookies) -> Response:
                with connected() as connection:
                    visitor = visitor_of(session_of(connection, request))
                next_path = _next_path(request.query_params.get("next", ""))
                return login_page(request, cookies, visitor, next_path)

            return await run_in_threadpool(answer, request, show)
        form = await guarded_form(request)
        if isinstance(form, HTTPResponse):
            return form
        login_csrf = request.cookies.get(LOGIN_COOKIE, "")
        if not _tokens_match(login_csrf, _field(form, "csrf_token")):
            message = "The login form expired or came from another site; reload it and try again."
            return send(request, error(403, "Forbidden", message), {})
        token, next_path = _field(form, "token").strip(), _next_path(_field(form, "next"))

        def work(cookies: Cookies) -> Response:
            with connected() as connection:
                analyst = analyst_for_token(connection, schema, token)
                if analyst is None:
                    client = request.client.host if request.client else "unknown"
                    logger.warning("failed analyst login from %s", client)  # never the token
                    error_text = "That token is not an active analyst's."
                    return login_page(
                        request, cookies, Visitor(), next_path, status=401, error_text=error_text
                    )
                # A login replaces the browser's session (if any): a fresh id, the old one ended.
                end_session(connection, schema, request.cookies.get(SESSION_COOKIE, ""))
                session_id, _ = start_session(connection, schema, analyst)
            logger.info("analyst %s logged in", analyst)
            cookies[SESSION_COOKIE] = session_id
            cookies[LOGIN_COOKIE] = None
            return redirect(next_path)

        return await run_in_threadpool(answer, request, work)

    async def logout(request: Request) -> HTTPResponse:
        form = await guarded_form(request)
        if isinstance(form, HTTPResponse):
            return form

        def work(cookies: Cookies) -> Response:
            session_id = request.cookies.get(SESSION_COOKIE, "")
            with connected() as connection:
                session = session_of(connection, request)
                if session is not None:
                    if not _tokens_match(session.csrf_token, _field(form, "csrf_token")):
                        return error(
                            403, "Forbidden", "The form's CSRF token is not this session's."
                        )
                    end_session(connection, schema, session_id)
                    logger.info("analyst %s logged out", session.analyst)
            cookies[SESSION_COOKIE] = None
            return redirect(LOGIN_PATH)

        return await run_in_threadpool(answer, request, work)

    # -- the queue and a case ---------------------------------------------------------------------

    def queue_page(request: Request) -> HTTPResponse:
        def work(cookies: Cookies) -> Response:
            filters, day_text, problem = _parse_filters(request)
            with connected() as connection:
                visitor = visitor_of(session_of(connection, request))
                patterns = queue.recent_patterns(connection, schema, filters.day)
                if problem is None:
                    alerts, has_next = queue.alert_queue(connection, schema, filters)
                else:
                    alerts, has_next = pd.DataFrame(columns=list(queue.QUEUE_COLUMNS)), False
            text = case_pages.queue_page(
                visitor,
                filters,
                alerts,
                has_next=has_next,
                patterns=patterns,
                page_size=queue.QUEUE_PAGE_SIZE,
                day_text=day_text,
                error=problem,
            )
            return page(text, 200 if problem is None else 422)

        return answer(request, work)

    def render_case(
        connection: psycopg.Connection,
        alert_id: str,
        visitor: Visitor,
        *,
        status: int = 200,
        error_text: str | None = None,
        form_values: dict[str, str] | None = None,
    ) -> Response:
        alert = queue.case_alert(connection, schema, alert_id)
        if alert is None:
            return error(404, "Alert not found", "There is no alert with this id.")
        parties = queue.counterparties(
            connection, schema, str(alert["partition_date"]), str(alert["account"])
        )
        others = queue.other_alerts(connection, schema, str(alert["account"]), alert_id)
        history = decision_history(connection, schema, alert_id=alert_id)
        transfers, transfer_count = queue.timeline(
            connection, schema, str(alert["partition_date"]), str(alert["account"])
        )
        behaviour = queue.trailing_behaviour(
            connection, schema, str(alert["partition_date"]), str(alert["account"])
        )
        text = case_pages.case_page(
            visitor,
            alert,
            parties,
            others,
            history,
            transfers=transfers,
            transfer_count=transfer_count,
            behaviour=behaviour,
            error=error_text,
            form_values=form_values,
        )
        return page(text, status)

    def case(request: Request) -> HTTPResponse:
        def work(cookies: Cookies) -> Response:
            with connected() as connection:
                visitor = visitor_of(session_of(connection, request))
                return render_case(connection, request.path_params["alert_id"], visitor)

        return answer(request, work)

    async def decide(request: Request) -> HTTPResponse:
        form = await guarded_form(request)
        if isinstance(form, HTTPResponse):
            return form
        alert_id = request.path_params["alert_id"]

        def work(cookies: Cookies) -> Response:
            with connected() as connection:
                session = session_of(connection, request)
                if session is None:
                    error_text = "Log in as an analyst to decide; nothing was stored."
                    return login_page(
                        request,
                        cookies,
                        Visitor(),
                        case_path(alert_id),
                        status=401,
                        error_text=error_text,
                    )
                if not _tokens_match(session.csrf_token, _field(form, "csrf_token")):
                    logger.warning("refused a decision without the session's CSRF token")
                    return error(403, "Forbidden", "The form's CSRF token is not this session's.")
                visitor = visitor_of(session)
                fields = {name: _field(form, name) for name in ("decision", "category", "note")}
                if fields["decision"] != "dismissed":
                    fields["category"] = ""  # the category names what a dismissed account is
                try:
                    decision = parse_decision(fields)
                except DecisionError as problem:
                    kept = {k: v for k, v in fields.items() if len(v) <= MAX_NOTE_CHARS}
                    return render_case(
                        connection,
                        alert_id,
                        visitor,
                        status=422,
                        error_text=f"Not stored: {problem}",
                        form_values=kept,
                    )
                stored = record_decision(connection, schema, alert_id, decision, session.analyst)
                if stored is None:
                    if queue.case_alert(connection, schema, alert_id) is None:
                        return error(404, "Alert not found", "There is no alert with this id.")
                    return error(401, "Not logged in", "The analyst is no longer active.")
            logger.info(
                "%s %s alert %s (%s)",
                session.analyst,
                decision.decision,
                alert_id,
                stored["account"],
            )
            return redirect(case_path(alert_id))

        return await run_in_threadpool(answer, request, work)

    return [
        Route(LOGIN_PATH, login, methods=["GET", "HEAD", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route(QUEUE_PATH, queue_page, methods=["GET", "HEAD"]),
        Route(QUEUE_PATH + "/{alert_id}", case, methods=["GET", "HEAD"]),
        Route(QUEUE_PATH + "/{alert_id}/decision", decide, methods=["POST"]),
    ]
