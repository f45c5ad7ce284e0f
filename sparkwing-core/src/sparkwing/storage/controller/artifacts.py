"""``cache: {type: controller, url, token_env}``: an :class:`ArtifactStore` kept by a controller.

Blobs and keyed entries go to the controller's cache routes
(``sparkwing_server.controller.blob_api``), which keep them in the
artifact store of the controller's own profile, so runners on different
machines share them. Digests and keys are checked here, as every
artifact store checks them, before anything is sent; the controller
checks them again, and re-hashes every blob it receives (a body that does
not match its digest is refused, nothing stored). A blob read back is
re-hashed here too, so a damaged transfer is an error, never data.

A :meth:`ControllerArtifactStore.put_blob` of more than
:data:`ASK_FIRST_BYTES` first asks whether the controller holds the blob
already (``HEAD``) and does not send it again when it does. Safe to share
between threads.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from ...errors import StoreError
from ..fs_artifacts import check_digest, validate_key
from .client import ControllerClient

#: Blobs larger than this are only sent when the controller lacks them (bytes).
ASK_FIRST_BYTES = 1024 * 1024


def _key_path(key: str) -> str:
    """``/cache/keys/<key>``, each segment escaped (the key validated first)."""
    return "/cache/keys/" + quote(validate_key(key), safe="/")


class ControllerArtifactStore:
    """The artifact store of a controller at *url* (see the module docstring)."""

    def __init__(self, url: str, *, token: str = "", token_env: str = "",
                 client: ControllerClient | None = None) -> None:
        self.client = client or ControllerClient(url, token=token, token_env=token_env)

    def __repr__(self) -> str:
        return f"ControllerArtifactStore({self.client.url!r})"

    # -- blobs -----------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store *data* and return its sha256 hex digest (not re-sent when already stored)."""
        digest = hashlib.sha256(data).hexdigest()
        if len(data) > ASK_FIRST_BYTES and self.has_blob(digest):
            return digest
        self.client.request_bytes("PUT", f"/cache/blobs/{digest}", bytes(data))
        return digest

    def get_blob(self, digest: str) -> bytes:
        """Return a blob; :class:`~sparkwing.errors.NotFoundError` if absent, :class:`StoreError` if damaged."""
        value = check_digest(digest)
        data = self.client.request_bytes("GET", f"/cache/blobs/{value}").body
        if hashlib.sha256(data).hexdigest() != value:
            raise StoreError(f"blob {digest} from controller {self.client.url} is damaged: "
                             "its content does not match its digest")
        return data

    def has_blob(self, digest: str) -> bool:
        """Tell whether the controller holds a blob."""
        value = check_digest(digest)
        answer = self.client.request_bytes("HEAD", f"/cache/blobs/{value}", absent_ok=True)
        return answer.ok

    # -- keys ------------------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        """Store *data* under *key*, replacing what was there."""
        self.client.request_bytes("PUT", _key_path(key), bytes(data))

    def get(self, key: str) -> bytes:
        """Return a key's data; :class:`~sparkwing.errors.NotFoundError` if absent."""
        return self.client.request_bytes("GET", _key_path(key)).body

    def exists(self, key: str) -> bool:
        """Tell whether a key is stored."""
        return self.client.request_bytes("HEAD", _key_path(key), absent_ok=True).ok

    def delete(self, key: str) -> bool:
        """Delete a key; ``False`` if it did not exist."""
        return bool(self.client.request("DELETE", _key_path(key))["deleted"])

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys under *prefix* (a plain string prefix), sorted."""
        return list(self.client.request("GET", "/cache/keys", query={"prefix": prefix})["keys"])

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.client.close()
