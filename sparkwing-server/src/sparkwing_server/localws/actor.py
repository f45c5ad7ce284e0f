"""Who acts on a run through the API: the server's verified caller, the ``X-Sparkwing-User``
header, else the dashboard's user."""

from __future__ import annotations

from aiohttp import web
from sparkwing.ids import has_control_char

from .errors import fail

#: Header naming the person acting (else the dashboard's ``$USER``).
USER_HEADER = "X-Sparkwing-User"
#: Request key of a caller the server verified (the controller's login user or token):
#: when set, it is who acts and the header is ignored.
ACTOR_KEY: web.RequestKey[str] = web.RequestKey("sparkwing_actor", str)
#: Longest accepted ``X-Sparkwing-User`` value.
MAX_USER_LENGTH = 128


def actor(request: web.Request) -> str:
    """Who is acting: the verified caller (:data:`ACTOR_KEY`), else the ``X-Sparkwing-User``
    header, else the dashboard process's user.

    Answers 400 when the header is empty, too long or holds control characters.
    """
    verified = request.get(ACTOR_KEY)
    if isinstance(verified, str) and verified:
        return verified
    raw = request.headers.get(USER_HEADER)
    if raw is None:
        from sparkwing.triggers.request import current_user

        return current_user()
    user = raw.strip()
    if not user or len(user) > MAX_USER_LENGTH or has_control_char(user):
        fail(400, f"{USER_HEADER} must be a non-empty name of at most {MAX_USER_LENGTH} "
                  "printable characters")
    return user
