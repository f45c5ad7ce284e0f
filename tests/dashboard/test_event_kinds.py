"""The dashboard serves the event kinds of ``sparkwing.events`` to the web UI."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sparkwing.events import all_kinds, kinds_by_stream

pytestmark = pytest.mark.asyncio


async def test_kinds_endpoint_serves_every_kind_by_family(client: Any) -> None:
    response = await client.get("/api/v1/events/kinds")
    assert response.status == 200 and response.content_type == "application/json"
    body = await response.json()
    assert body == kinds_by_stream()
    assert {name: kind for fam in body.values() for name, kind in fam.items()} == all_kinds()


async def test_the_page_embeds_the_kinds_before_its_scripts(client: Any) -> None:
    response = await client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    html = await response.text()
    found = re.search(
        r'<script type="application/json" id="sparkwing-event-kinds">(.*?)</script>', html, re.S)
    assert found is not None, html
    assert json.loads(found.group(1)) == kinds_by_stream()
    assert "sparkwing:event-kinds" not in html
    assert found.start() < html.index('<script type="module" src="/static/app.js">')


async def test_the_page_embeds_its_settings_before_its_scripts(client: Any) -> None:
    html = await (await client.get("/")).text()
    found = re.search(
        r'<script type="application/json" id="sparkwing-ui-config">(.*?)</script>', html, re.S)
    assert found is not None, html
    # The local dashboard: its own /api/v1, nobody logs in (the controller embeds its own).
    assert json.loads(found.group(1)) == {"mode": "local", "api": "/api/v1"}
    assert "sparkwing:ui-config" not in html
    assert found.start() < html.index('<script type="module" src="/static/app.js">')
