"""Who acts on a run through the API: the ``X-Sparkwing-User`` header, else the dashboard's user."""

from __future__ import annotations

from aiohttp import web

from .errors import fail

#: Header naming the person acting (else the dashboard's ``$USER``).
USER_HEADER = "X-Sparkwing-User"
#: Longest accepted ``X-Sparkwing-User`` value.
MAX_USER_LENGTH = 128


def actor(request: web.Request) -> str:
    """Who is acting: the ``X-Sparkwing-User`` header, else the dashboard process's user.

    Answers 400 when the header is empty, too long or holds control characters.
    """
    raw = request.headers.get(USER_HEADER)
    if raw is None:
        from sparkwing.orchestrator.approvals import current_user

        return current_user()
    user = raw.strip()
    if not user or len(user) > MAX_USER_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in user):
        fail(400, f"{USER_HEADER} must be a non-empty name of at most {MAX_USER_LENGTH} "
                  "printable characters")
    return user
