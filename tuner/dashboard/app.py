"""The dashboard's web app (Starlette): server-rendered pages and the read-only JSON API.

Pages render their first view on the server (Jinja2, autoescaped) and ``static/dashboard.js``
keeps them live from the JSON API (polling every 2 s while a job runs), sorts, filters,
paginates and draws the charts with plotly.js, which is served from the installed ``plotly``
package: nothing is fetched from the network.

API (every route is GET; the API is read-only)::

    /api/jobs?search=&sort=created&order=desc&page=1&per_page=50
    /api/jobs/{name}                         status, counters, best training job
    /api/jobs/{name}/spec                    the CreateHyperParameterTuningJob request
    /api/jobs/{name}/trials?page=&per_page=&sort=number&order=asc&status=All
                                             (sort also by a hyperparameter: sort=hp:NAME)
    /api/jobs/{name}/trials/{number}         hyperparameters, metrics by epoch, log tail,
                                             and for a stopped one a StopNote (stops.py)
    /api/jobs/{name}/charts/objective        objective by training job, best so far
    /api/jobs/{name}/charts/parameters       each hyperparameter, parallel coordinates
    /api/jobs/{name}/charts/curves           learning curves
    /api/jobs/{name}/analysis                correlations and importance (202 until ready)

Safety. Nothing here writes (the engine is read-only, see :mod:`tuner.dashboard.reader`).
With a token, every request (pages, API, static files) must carry it: ``Authorization:
Bearer TOKEN``, ``?token=TOKEN`` (a page opened so is redirected to itself without it, with a
cookie set so that its links and API calls carry it), or that cookie; otherwise 401. Without a
token the server only answers requests addressed to a loopback host name, so a web page
cannot reach it through DNS rebinding. Every page has a Content-Security-Policy that forbids
inline scripts, so a value that slipped through escaping still could not run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tuner.dashboard import charts
from tuner.dashboard.reader import (
    DEFAULT_PAGE_SIZE,
    JOB_SORTS,
    STATUS_FILTERS,
    TRIAL_SORTS,
    DashboardReader,
)
from tuner.errors import JobNotFoundError, StorageError

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
COOKIE = "tuner_dashboard_token"
#: Seconds between two polls of a live page (dashboard.js reads it from the page).
POLL_S = 2.0
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# plotly.js compiles its WebGL shaders (parallel coordinates) with new Function, hence
# 'unsafe-eval'; inline scripts and event handler attributes stay forbidden.


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        msg = f"plotly.min.js is missing from the plotly package ({path}); reinstall plotly"
        raise StorageError(msg)
    return path


# ----------------------------------------------------------------------------------------------
# Security middleware
# ----------------------------------------------------------------------------------------------
def _host_name(host_header: str) -> str:
    """``[::1]:8765`` -> ``::1``, ``localhost:8765`` -> ``localhost``."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class GuardMiddleware:
    """Token check, Host check, and security headers on every response.

    Args:
        app: The wrapped ASGI app.
        token: Required on every request when set (see the module docstring).
        allowed_hosts: Host names the server answers to (None: any); used without a token.
        cookie: The cookie's name (the port is appended by the server, so two dashboards on
            one machine do not overwrite each other's cookie).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: Sequence[str] | None,
        cookie: str = COOKIE,
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = None if allowed_hosts is None else frozenset(allowed_hosts)
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.allowed_hosts is not None:
            host = _host_name(request.headers.get("host", ""))
            if host not in self.allowed_hosts:
                reason = (
                    f"unexpected Host header {host!r}: without a token the dashboard only "
                    "answers to localhost names (start it with --token to serve others)"
                )
                await self._deny(scope, receive, send, 400, reason)
                return
        set_cookie = False
        if self.token is not None:
            supplied, source = self._supplied(request)
            if supplied is None or not secrets.compare_digest(
                supplied.encode(), self.token.encode()
            ):
                await self._deny(scope, receive, send, 401, "a valid token is required")
                return
            if source == "query":
                set_cookie = True
                if request.method == "GET" and not request.url.path.startswith("/api/"):
                    # Take the token out of the address bar (and the history): the cookie
                    # carries it from now on.
                    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                    target = request.url.path + (
                        "?" + urllib.parse.urlencode(query) if query else ""
                    )
                    response = RedirectResponse(target, status_code=303)
                    self._set_cookie(response)
                    await self._send_with_headers(response, scope, receive, send)
                    return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_security_headers())
                # Pages and data change all the time; scripts only with the package.
                static = request.url.path.startswith("/static/")
                headers.append(
                    (b"cache-control", b"private, max-age=3600" if static else b"no-store")
                )
                if set_cookie:
                    headers.append((b"set-cookie", self._cookie_header().encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _supplied(self, request: Request) -> tuple[str | None, str]:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), "header"
        if "token" in request.query_params:
            return request.query_params["token"], "query"
        cookie = request.cookies.get(self.cookie)
        return (None if cookie is None else urllib.parse.unquote(cookie)), "cookie"

    def _cookie_header(self) -> str:
        value = urllib.parse.quote(self.token or "", safe="")
        return f"{self.cookie}={value}; Path=/; HttpOnly; SameSite=Strict"

    def _set_cookie(self, response: Response) -> None:
        response.headers.append("set-cookie", self._cookie_header())

    async def _send_with_headers(
        self, response: Response, scope: Scope, receive: Receive, send: Send
    ) -> None:
        for name, value in _security_headers():
            response.headers.append(name.decode(), value.decode())
        await response(scope, receive, send)

    async def _deny(
        self, scope: Scope, receive: Receive, send: Send, status: int, reason: str
    ) -> None:
        if Request(scope).url.path.startswith("/api/"):
            response: Response = JSONResponse({"Error": reason}, status_code=status)
        else:
            response = PlainTextResponse(f"{status}: {reason}", status_code=status)
        if status == 401:
            response.headers["www-authenticate"] = 'Bearer realm="tuner dashboard"'
        await self._send_with_headers(response, scope, receive, send)


def _security_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", _CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


# ----------------------------------------------------------------------------------------------
# Templates
# ----------------------------------------------------------------------------------------------
def _fmt_value(value: Any, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


#: A hyperparameter value written as a decimal float ("0.08809041615519646", "1e-05").
_FLOAT_TEXT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?")


def fmt_param(value: Any) -> str:
    """A hyperparameter value as the tables show it: floats to 6 significant digits.

    AMT stores every value as a string, so a sampled float arrives with 17 digits and makes
    its column several times wider than the rounded objective beside it. Integers,
    categorical values and floats with 6 digits or fewer are shown as stored (the exact value
    is on the training job's page and in the cell's tooltip); dashboard.js rounds the same way.
    """
    text = "" if value is None else str(value)
    if _FLOAT_TEXT.fullmatch(text):
        digits = re.split("[eE]", text)[0].lstrip("+-").replace(".", "").lstrip("0")
        if len(digits) > 6:
            return f"{float(text):.6g}"
    return text


def _fmt_when(stamp: str | None) -> str:
    """``2026-12-07T14:23:18+00:00`` -> ``2026-12-07 14:23:18`` (UTC, said by the header)."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ").removesuffix("+00:00")


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every value is escaped unless a template says otherwise (none do)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["value"] = _fmt_value
    env.filters["duration"] = _fmt_duration
    env.filters["param"] = fmt_param
    env.filters["when"] = _fmt_when
    env.filters["path"] = lambda v: urllib.parse.quote(str(v), safe="")
    env.globals["query"] = query_string
    return env


# ----------------------------------------------------------------------------------------------
# The app
# ----------------------------------------------------------------------------------------------
def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        msg = f"{name} must be an integer, got {raw!r}"
        raise ValueError(msg) from None


Handler = Callable[[Request], Awaitable[Response]]


class _Handlers:
    """The dashboard's endpoints over one reader: JSON under ``/api/``, pages elsewhere.

    Each handler runs in a worker thread (reads are blocking SQL); :meth:`api` and :meth:`html`
    wrap them so that a missing job is a 404, a bad parameter a 400 and an unreadable database
    a 503, as JSON or as an error page.
    """

    def __init__(self, reader: DashboardReader, cache: charts.AnalysisCache) -> None:
        self.reader = reader
        self.cache = cache
        self.env = _environment()
        self.plotly_js = plotly_js_path()

    # -- wrappers -------------------------------------------------------------------------------
    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(poll_s=POLL_S, **context)
        return HTMLResponse(body, status_code=status)

    def api(self, fn: Callable[[Request], Any]) -> Handler:
        def respond(request: Request) -> Response:
            data = fn(request)
            # Serialised here, in the worker thread: a chart's JSON is a few hundred KB.
            return data if isinstance(data, Response) else JSONResponse(data)

        async def endpoint(request: Request) -> Response:
            try:
                return await run_in_threadpool(respond, request)
            except JobNotFoundError as exc:
                return JSONResponse({"Error": str(exc)}, status_code=404)
            except ValueError as exc:
                return JSONResponse({"Error": str(exc)}, status_code=400)
            except StorageError as exc:
                logger.warning("dashboard read failed: %s", exc)
                return JSONResponse({"Error": str(exc)}, status_code=503)

        return endpoint

    def html(self, fn: Callable[[Request], HTMLResponse]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await run_in_threadpool(fn, request)
            except JobNotFoundError as exc:
                return self.page("error.html", 404, title="Not found", message=str(exc))
            except ValueError as exc:
                return self.page("error.html", 400, title="Bad request", message=str(exc))
            except StorageError as exc:
                logger.warning("dashboard read failed: %s", exc)
                message = str(exc)
                return self.page("error.html", 503, title="Database unavailable", message=message)

        return endpoint

    def routes(self) -> list[Route | Mount]:
        api, html = self.api, self.html
        return [
            Route("/", html(self.jobs_page)),
            Route("/jobs/{name}", html(self.job_page)),
            Route("/jobs/{name}/trials/{number:int}", html(self.trial_page)),
            Route("/api/health", api(self.api_health)),
            Route("/api/jobs", api(self.api_jobs)),
            Route("/api/jobs/{name}", api(self.api_job)),
            Route("/api/jobs/{name}/spec", api(self.api_spec)),
            Route("/api/jobs/{name}/trials", api(self.api_trials)),
            Route("/api/jobs/{name}/trials/{number:int}", api(self.api_trial)),
            Route("/api/jobs/{name}/charts/objective", api(self.api_objective)),
            Route("/api/jobs/{name}/charts/parameters", api(self.api_parameters)),
            Route("/api/jobs/{name}/charts/curves", api(self.api_curves)),
            Route("/api/jobs/{name}/analysis", api(self.api_analysis)),
            Route("/static/vendor/plotly.min.js", self.plotly),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        ]

    # -- API ------------------------------------------------------------------------------------
    def api_jobs(self, request: Request) -> Any:
        q = request.query_params
        return self.reader.list_jobs(
            search=q.get("search", ""),
            sort=q.get("sort", "created"),
            order=q.get("order", "desc"),
            page=_int(request, "page", 1),
            per_page=_int(request, "per_page", DEFAULT_PAGE_SIZE),
        )

    def api_job(self, request: Request) -> Any:
        return self.reader.job_summary(_job_name(request))

    def api_spec(self, request: Request) -> Any:
        return dict(self.reader.load_job(_job_name(request)).record.request)

    def api_trials(self, request: Request) -> Any:
        return self.reader.trials_page(_job_name(request), **_trials_query(request))

    def api_trial(self, request: Request) -> Any:
        data = self.reader.trial(_job_name(request), int(request.path_params["number"]))
        data["Figure"] = charts.trial_figure(data)
        return data

    def api_objective(self, request: Request) -> Any:
        return charts.objective_figure(self.reader, self.reader.load_job(_job_name(request)))

    def api_parameters(self, request: Request) -> Any:
        job = self.reader.load_job(_job_name(request))
        return charts.parameter_figures(self.reader, job, self.cache.readings(job))

    def api_curves(self, request: Request) -> Any:
        return charts.curve_figures(self.reader, self.reader.load_job(_job_name(request)))

    def api_analysis(self, request: Request) -> Any:
        result = self.cache.get(self.reader.load_job(_job_name(request)))
        return JSONResponse(result, status_code=200 if result.get("Ready") else 202)

    def api_health(self, request: Request) -> Any:
        return {"Status": "ok", "ReadOnly": True}

    # -- pages ----------------------------------------------------------------------------------
    def jobs_page(self, request: Request) -> HTMLResponse:
        q = request.query_params
        listing = self.reader.list_jobs(
            search=q.get("search", ""),
            sort=q.get("sort", "created"),
            order=q.get("order", "desc"),
            page=_int(request, "page", 1),
        )
        return self.page("jobs.html", listing=listing, sorts=JOB_SORTS)

    def job_page(self, request: Request) -> HTMLResponse:
        name = _job_name(request)
        summary = self.reader.job_summary(name)
        trials = self.reader.trials_page(name, **_trials_query(request))
        spec = json.dumps(self.reader.load_job(name).record.request, indent=2, sort_keys=False)
        return self.page(
            "job.html",
            job=summary,
            trials=trials,
            spec=spec,
            statuses=["All", *STATUS_FILTERS],
            sorts=TRIAL_SORTS,
        )

    def trial_page(self, request: Request) -> HTMLResponse:
        trial = self.reader.trial(_job_name(request), int(request.path_params["number"]))
        return self.page("trial.html", trial=trial)

    async def plotly(self, request: Request) -> Response:
        return FileResponse(self.plotly_js, media_type="text/javascript")


def _job_name(request: Request) -> str:
    return str(request.path_params["name"])


def _trials_query(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "page": _int(request, "page", 1),
        "per_page": _int(request, "per_page", DEFAULT_PAGE_SIZE),
        "sort": q.get("sort", "number"),
        "order": q.get("order", "asc"),
        "status": q.get("status") or None,
    }


def create_app(
    db: str,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = tuple(LOOPBACK_HOSTS),
    cookie: str = COOKIE,
    reader: DashboardReader | None = None,
) -> Starlette:
    """The dashboard app for the database at ``db`` (a SQLAlchemy URL or SQLite path).

    Args:
        db: The database to read.
        token: When set, every request must carry it (see the module docstring).
        allowed_hosts: Host names to answer (None: any). The default, the loopback names,
            suits a dashboard on 127.0.0.1; a server bound elsewhere with a token passes None.
        cookie: Name of the token cookie.
        reader: An existing reader (tests); else one is opened on ``db``.
    """
    reader = reader or DashboardReader(db)
    cache = charts.AnalysisCache(reader)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Enough worker threads for a few browsers polling while the analysis runs; few enough
        # that memory stays bounded (each thread keeps its own buffers).
        anyio.to_thread.current_default_thread_limiter().total_tokens = 8
        yield
        cache.close()
        reader.close()

    app = Starlette(routes=_Handlers(reader, cache).routes(), lifespan=lifespan)
    app.state.reader = reader
    app.state.analysis = cache
    app.add_middleware(GuardMiddleware, token=token, allowed_hosts=allowed_hosts, cookie=cookie)
    return app


def query_string(params: Mapping[str, Any]) -> str:
    """``?a=1&b=2`` for the non-empty values of ``params`` (templates build links with it)."""
    items = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urllib.parse.urlencode(items) if items else ""
