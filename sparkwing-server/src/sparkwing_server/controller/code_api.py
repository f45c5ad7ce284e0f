"""Handlers of the code routes: negotiate, upload and fetch git bundles (see :mod:`.code`).

- ``POST /api/v1/code/negotiate`` ``{commits: [sha, ...]}`` -> ``{known: [...]}``:
  which of the sender's commits the controller can already rebuild.
- ``PUT /api/v1/code/bundles`` (``application/octet-stream``, a git bundle)
  -> 201 ``{digest, tips, size}``; 409 ``missing_prerequisites`` naming the
  commits the bundle needs and the controller lacks.
- ``GET /api/v1/code/commits/{sha}`` -> ``{commit, bundles: [digest, ...]}``,
  the bundles to apply in order; 404 for a commit never sent.
- ``GET /api/v1/code/bundles/{digest}`` -> the bundle's bytes.
"""

from __future__ import annotations

from aiohttp import web

from .code import DEFAULT_MAX_BUNDLE, CodeStore, MissingPrerequisites
from .context import context_of
from .errors import check_fields, fail, json_response, read_json

#: Most commits one negotiation may ask about.
MAX_NEGOTIATE = 1000


def _store(request: web.Request) -> CodeStore:
    return CodeStore(context_of(request).stores.cache)


async def negotiate(request: web.Request) -> web.Response:
    """Answer which of the listed commits are known (body ``{commits: [sha, ...]}``)."""
    body = await read_json(request)
    check_fields(body, ("commits",))
    commits = body.get("commits")
    if not isinstance(commits, list) or not all(isinstance(c, str) for c in commits):
        fail(400, "field 'commits' must be a list of commit ids", field="commits")
    if len(commits) > MAX_NEGOTIATE:
        fail(400, f"field 'commits' lists {len(commits)} commits; at most {MAX_NEGOTIATE}",
             field="commits")
    known = await context_of(request).state_call(_store(request).known, commits)
    return json_response({"known": known})


async def upload_bundle(request: web.Request) -> web.Response:
    """Store a git bundle sent as ``application/octet-stream`` (201, or 409 naming what it lacks)."""
    from sparkwing.errors import UsageError

    limit = DEFAULT_MAX_BUNDLE
    if (request.content_length or 0) > limit:
        fail(413, f"bundle is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > limit:
            fail(413, f"bundle is larger than {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    try:
        stored = await context_of(request).state_call(_store(request).store, data)
    except MissingPrerequisites as exc:
        fail(409, str(exc), "missing_prerequisites", missing=exc.missing)
    except UsageError as exc:
        fail(400, str(exc), "bad_bundle")
    return json_response({"digest": stored.digest, "tips": stored.tips, "size": stored.size}, 201)


async def commit_chain(request: web.Request) -> web.Response:
    """The bundles that rebuild one commit, prerequisites first."""
    from sparkwing.errors import NotFoundError, UsageError

    sha = request.match_info["sha"]
    try:
        chain = await context_of(request).state_call(_store(request).chain, sha)
    except UsageError as exc:
        fail(400, str(exc), field="sha")
    except NotFoundError as exc:
        fail(404, str(exc), "not_found")
    return json_response({"commit": sha, "bundles": chain})


async def get_bundle(request: web.Request) -> web.Response:
    """One stored bundle's bytes."""
    from sparkwing.errors import NotFoundError, UsageError

    digest = request.match_info["digest"]
    try:
        data = await context_of(request).state_call(_store(request).bundle, digest)
    except (NotFoundError, UsageError) as exc:
        fail(404, str(exc), "not_found")
    return web.Response(body=data, content_type="application/octet-stream")
