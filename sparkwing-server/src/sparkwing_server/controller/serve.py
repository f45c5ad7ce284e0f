"""``sparkwing controller serve``: check the configuration, bind, and serve until signalled."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparkwing.errors import ConfigError

from ..localws.address import Address
from ..localws.serve import SHUTDOWN_GRACE_S, bind_socket, open_profile_stores

if TYPE_CHECKING:
    import socket

    from sparkwing.config import Stores
    from sparkwing.storage.nodequeue import NodeQueue

    from .leases import LeaseSettings
    from .secretstore import SecretStore
    from .tokens import TokenStore

#: Where the controller listens unless ``--addr`` says otherwise.
DEFAULT_ADDR = "127.0.0.1:4344"
#: Environment variable that turns ``--require-auth`` on.
REQUIRE_AUTH_ENV = "SPARKWING_REQUIRE_AUTH"


@dataclass(frozen=True, slots=True)
class CheckedConfig:
    """What ``--check-config`` found: the profile, its state file and the auth mode."""

    profile: str
    state: str
    live_tokens: int
    auth: str
    users: int = 0
    #: ``sealed with key k...`` or ``off (no key)``.
    secrets: str = "off (no key)"

    def describe(self) -> str:
        """One line for people."""
        return (f"controller config ok: profile {self.profile or '?'}, state {self.state}, "
                f"{self.live_tokens} live token(s), auth {self.auth}, {self.users} login user(s), "
                f"secrets {self.secrets}")


def require_auth_default() -> bool:
    """``SPARKWING_REQUIRE_AUTH=1`` (or ``true``/``yes``) makes ``--require-auth`` the default."""
    return os.environ.get(REQUIRE_AUTH_ENV, "").strip().lower() in ("1", "true", "yes")


def check_secrets(secrets: SecretStore | None) -> str:
    """How secrets are configured; :class:`ConfigError` when stored values are under another key.

    Without a key the secrets routes are off (503) and that is all; with
    one, every stored value must be sealed with a key it holds, or the
    controller refuses to start rather than fail each read.
    """
    if secrets is None or secrets.keyring is None:
        return "off (no key)"
    foreign = secrets.foreign()
    if foreign:
        from .secretkeys import KEY_ENV, OLD_KEY_ENV

        ids = sorted({r.key_id for r in foreign})
        raise ConfigError(
            f"{len(foreign)} secret(s) in {secrets.where} are sealed with "
            f"{', '.join(ids)}, a key this controller was not given ({secrets.keyring.describe()})"
            f": set {KEY_ENV} to that key, or {OLD_KEY_ENV} during a rotation "
            "(`sparkwing controller secret list` shows each secret's key)")
    return f"sealed with {secrets.keyring.describe()}"


def check_cache(stores: Stores) -> None:
    """Refuse a profile whose cache is a controller (this one would call itself for every
    blob) and a bad ``$SPARKWING_CACHE_MAX_BYTES``; :class:`ConfigError` naming them."""
    from .blob_api import max_bytes

    resolved = stores.resolved
    if str(resolved.blocks.get("cache", {}).get("type")) == "controller":
        raise ConfigError(
            f"{resolved.profile.where('cache')}: a controller's own cache cannot be a "
            "controller; give its profile a cache: block (filesystem, s3, gcs, azure, ...)")
    max_bytes()


def check(stores: Stores, tokens: TokenStore, *, require_auth: bool,
          secrets: SecretStore | None = None) -> CheckedConfig:
    """Check that the controller can serve *stores*; :class:`ConfigError` naming what is wrong."""
    import time

    from .users import UserStore

    check_cache(stores)
    now = time.time()
    live = [t for t in tokens.list() if t.status(now) in ("active", "rotating")]
    users = len(UserStore(tokens.db).list())
    if require_auth and not live and not users:
        raise ConfigError(
            f"--require-auth: the controller's store ({tokens.where}) holds no live token and "
            "no login user; create one first with `sparkwing controller token create --kind "
            "user --name NAME --scope admin` (or `sparkwing controller user create`)"
        )
    return CheckedConfig(stores.resolved.name, str(tokens.where), len(live),
                         "enabled" if (require_auth or live or users) else "disabled", users,
                         check_secrets(secrets))


def serve(address: Address, *, profile: str | None = None, require_auth: bool = False,
          check_config: bool = False, secure_cookies: bool = False,
          session_ttl_s: float | None = None, leases: LeaseSettings | None = None) -> int:
    """Serve the controller on *address* until SIGTERM/SIGINT (or only check, with *check_config*).

    Prints one line on stdout once listening: ``sparkwing controller listening on URL ...``.
    *secure_cookies* marks the login cookie ``Secure`` on plain-HTTP requests too (TLS
    ended at a proxy); *session_ttl_s* is how long a login session lasts; *leases* sets
    the lease length, the reaper's tick and the queue timeout.
    """
    from .leases import LeaseSettings
    from .nodequeue import open_node_queue
    from .secretkeys import keyring_from_env
    from .secretstore import open_secret_store
    from .tokens import open_token_store

    keyring = keyring_from_env()
    sock = None if check_config else bind_socket(address)
    stores = None
    tokens = None
    nodes = None
    secrets = None
    try:
        stores = open_profile_stores(profile)
        tokens = open_token_store(stores)
        nodes = open_node_queue(stores)
        secrets = open_secret_store(stores, keyring)
        checked = check(stores, tokens, require_auth=require_auth, secrets=secrets)
        if check_config or sock is None:
            print(checked.describe())
            return 0
        if keyring is None:
            from .secretkeys import NO_KEY_MESSAGE

            print(f"warning: the secrets routes are off: {NO_KEY_MESSAGE}", file=sys.stderr,
                  flush=True)
        sock.listen(128)
        sock.setblocking(False)
        import asyncio

        return asyncio.run(_serve(stores, tokens, sock, address, require_auth=require_auth,
                                  secure_cookies=secure_cookies, session_ttl_s=session_ttl_s,
                                  nodes=nodes, leases=leases or LeaseSettings(),
                                  secrets=secrets))
    finally:
        if sock is not None:
            sock.close()
        if secrets is not None:
            secrets.close()
        if nodes is not None:
            nodes.close()
        if tokens is not None:
            tokens.close()
        if stores is not None:
            stores.close()


async def _serve(stores: Stores, tokens: TokenStore, sock: socket.socket, address: Address, *,
                 require_auth: bool, nodes: NodeQueue, leases: LeaseSettings,
                 secure_cookies: bool = False, session_ttl_s: float | None = None,
                 secrets: SecretStore | None = None) -> int:
    import asyncio

    from aiohttp import web

    from ..requestguard import RequestPolicy
    from .app import make_app
    from .context import ControllerContext

    services = {key: os.environ[env] for key, env in
                (("logs", "SPARKWING_LOGS_URL"), ("cache_pod", "CACHE_POD_URL"))
                if os.environ.get(env)}
    ctx = ControllerContext(stores, tokens, RequestPolicy.for_listener(address.host),
                            require_auth=require_auth, services=services,
                            secure_cookies=secure_cookies, nodes=nodes,
                            leases=leases, secrets=secrets)
    if session_ttl_s:
        ctx.session_ttl_s = session_ttl_s
    runner = web.AppRunner(make_app(ctx), handle_signals=False, access_log=None,
                           shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = Address(address.host, int(sock.getsockname()[1])).url
    print(f"sparkwing controller listening on {url} (pid {os.getpid()}, profile "
          f"{stores.resolved.name or '?'}, auth {ctx.auth_mode}, lease {leases.lease_s:g} s)",
          flush=True)
    try:
        await stop.wait()
    finally:
        print("sparkwing controller stopping", file=sys.stderr, flush=True)
        await runner.cleanup()
    return 0
