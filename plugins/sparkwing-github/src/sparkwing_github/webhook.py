"""The webhook routes: ``POST /webhooks/github/{pipeline}`` and ``POST /webhooks/github``.

Each delivery goes through, in order: the body limit (413, before the
body is read), the secret (503 when none is configured), the signature
(401, constant-time compare, before the body is parsed), the JSON body
and headers (400), ``ping`` (200 ``pong``), then the ``on:`` blocks of the
project's pipelines. Matching pipelines get one request each, keyed by
``X-GitHub-Delivery`` and the pipeline, handed to ``context.dispatch``
(which queues it: the answer comes in milliseconds, well inside GitHub's
ten seconds). Every refusal answers ``{"error": ...}`` and records nothing.

The routes authenticate deliveries themselves, so they are marked for the
server's request guard (attribute ``sparkwing_self_authenticating``, the
body limit in bytes): the guard still checks ``Host`` and the size.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import settings
from .matching import match_event
from .requests import RUN_EVENTS, build_request
from .signature import SIGNATURE_HEADER, signature_valid

if TYPE_CHECKING:
    from sparkwing.config import ProjectConfig
    from sparkwing.plugins.context import ServerContext

#: The attribute the server's request guard looks for on a route's handler.
SELF_AUTH_ATTR = "sparkwing_self_authenticating"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class WebhookReceiver:
    """The routes' handler over one server context."""

    def __init__(self, context: ServerContext, project_root: Path | None) -> None:
        self.context = context
        self.project_root = project_root

    def add_to(self, app: web.Application) -> None:
        """Add both routes to *app*, marked as authenticating themselves."""
        async def handler(request: web.Request) -> web.Response:
            return await self.receive(request)

        setattr(handler, SELF_AUTH_ATTR, settings.max_body())
        app.router.add_post("/webhooks/github", handler)
        app.router.add_post("/webhooks/github/{pipeline}", handler)

    def _root(self) -> Path | None:
        root = self.project_root or getattr(self.context, "project_root", None)
        if root is not None:
            return Path(root)
        from sparkwing.config.project import find_project

        return find_project(Path.cwd())

    async def receive(self, request: web.Request) -> web.Response:
        """Verify, parse and match one delivery; dispatch a request per matching pipeline."""
        limit = settings.max_body()
        if request.content_length is None and request.body_exists:
            return _error(411, "a Content-Length header is required")
        if (request.content_length or 0) > limit:
            return _error(413, f"body is larger than {limit} bytes")
        secret = settings.webhook_secret()
        if not secret:
            return _error(503, f"no webhook secret configured; set {settings.SECRET_ENV}")
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            return _error(413, f"body is larger than {limit} bytes")
        if not signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER, "")):
            return _error(401, f"missing or wrong {SIGNATURE_HEADER} signature")
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not event or not delivery:
            return _error(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(payload, dict):
            return _error(400, "body must be a JSON object")
        if event == "ping":
            return web.json_response({"status": "pong"})
        if event not in RUN_EVENTS:
            return web.json_response({"status": "ignored", "event": event,
                                      "reason": f"event {event} starts no pipeline"}, status=202)
        return await self._dispatch(request.match_info.get("pipeline", ""), event, delivery,
                                    payload)

    async def _dispatch(self, scoped: str, event: str, delivery: str,
                        payload: dict[str, Any]) -> web.Response:
        from sparkwing.errors import SparkwingError

        root = self._root()
        if root is None:
            return _error(503, "the server has no project (.sparkwing/sparkwing.yaml) to match")
        try:
            project = await asyncio.to_thread(_load, root)
        except SparkwingError as exc:
            return _error(503, str(exc))
        entries = {e.name: e for e in project.pipelines}
        if scoped and scoped not in entries:
            return _error(404, f'unknown pipeline "{scoped}"; known: {", ".join(entries)}')
        names = [scoped] if scoped else list(entries)
        skipped: dict[str, str] = {}
        started: list[dict[str, Any]] = []
        for name in names:
            decision = match_event(entries[name].on, event, payload)
            if not decision.matched:
                skipped[name] = decision.reason
                continue
            result = await self.context.dispatch(build_request(name, event, delivery, payload,
                                                               root))
            started.append({"pipeline": name, "trigger": result.row.id,
                            "created": bool(result.created),
                            "run_id": result.row.run_id or ""})
        if not started:
            return web.json_response({"status": "ignored", "event": event,
                                      "skipped": skipped}, status=202)
        fresh = any(s["created"] for s in started)
        return web.json_response(
            {"status": "dispatched" if fresh else "duplicate", "event": event,
             "delivery": delivery, "triggers": started, "skipped": skipped},
            status=202 if fresh else 200)


def _load(root: Path) -> ProjectConfig:
    from sparkwing.config.project import load_project

    return load_project(root, check_schedules=False)
