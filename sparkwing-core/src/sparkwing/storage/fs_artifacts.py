"""The filesystem artifact store: content-addressed blobs and named keys.

Layout under the store's root::

    blobs/<first 2 hex>/<sha256>   blob content, named by its sha256 hex digest
    keys/<key>                     a named key's data; ``/`` in a key makes directories

Every write goes to a temporary file in the destination directory
(``.sw-tmp-*``) that is flushed to disk and then renamed over the target
with :func:`os.replace`, so readers in any process see either the old or the
new content, never a part. Temporary files are not listed and a key segment
may not start with ``.sw-tmp-``.

Keys are validated like node ids (:func:`sparkwing.ids.validate_node_id`):
``/``-separated non-empty segments, none ``.`` or ``..``, no leading ``/``,
no backslash or control character; a bad key raises
:class:`~sparkwing.errors.PlanError`. Because keys are paths, a key cannot
be both data and a prefix of other keys (``a`` and ``a/b``): such a put
raises :class:`~sparkwing.errors.StoreError`.

:meth:`FilesystemArtifactStore.get_blob` re-hashes what it reads and raises
:class:`~sparkwing.errors.StoreError` when the content does not match its
digest, so a damaged cache is reported instead of being used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import NotFoundError, PlanError, StoreError
from ..ids import validate_node_id
from ..paths import make_private_dir, open_private

TMP_PREFIX = ".sw-tmp-"
# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_DIGEST_RE = r"^[0-9a-f]{64}$"


def validate_key(key: str) -> str:
    """Check an artifact key and return it; raises :class:`~sparkwing.errors.PlanError`."""
    validate_node_id(key, "artifact key")
    if any(segment.startswith(TMP_PREFIX) for segment in key.split("/")):
        raise PlanError(f"artifact key {key!r} is not valid: segments may not start with {TMP_PREFIX!r}")
    return key


def check_digest(digest: str) -> str:
    """Return *digest* in lowercase; :class:`~sparkwing.errors.StoreError` if not a sha256 hex."""
    value = digest.lower() if isinstance(digest, str) else ""
    if not re.match(_DIGEST_RE, value):
        raise StoreError(f"{digest!r} is not a sha256 hex digest")
    return value


class FilesystemArtifactStore:
    """:class:`~sparkwing.storage.contracts.ArtifactStore` kept in files under *root*.

    Safe to use from several threads and processes. With ``durable=True``
    (the default) each write is fsync'ed before it is renamed into place.
    """

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        """Open the store at *root* (directories are created on first write)."""
        self.root = Path(root)
        self.durable = durable
        self.blobs_dir = self.root / "blobs"
        self.keys_dir = self.root / "keys"

    # -- paths ----------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        """Return where the blob with *digest* is (or would be) stored."""
        value = check_digest(digest)
        return self.blobs_dir / value[:2] / value

    def key_path(self, key: str) -> Path:
        """Return where *key* is (or would be) stored."""
        return self.keys_dir.joinpath(*validate_key(key).split("/"))

    def _write_atomic(self, target: Path, data: bytes, what: str) -> None:
        for _attempt in range(5):
            try:
                make_private_dir(target.parent)
            except (FileExistsError, NotADirectoryError) as exc:
                raise StoreError(
                    f"cannot store {what}: a parent of it is already stored as data"
                ) from exc
            except OSError as exc:
                raise StoreError(f"cannot store {what}: {exc}") from exc
            tmp = target.parent / f"{TMP_PREFIX}{os.urandom(8).hex()}"
            try:
                fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileNotFoundError:
                continue  # a concurrent delete removed the now-empty directory: retry
            except OSError as exc:
                raise StoreError(f"cannot store {what}: {exc}") from exc
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    if self.durable:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, target)
                return
            except IsADirectoryError as exc:
                raise StoreError(
                    f"cannot store {what}: other keys are stored under it as a prefix"
                ) from exc
            except OSError as exc:
                raise StoreError(f"cannot store {what}: {exc}") from exc
            finally:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        raise StoreError(f"cannot store {what}: its directory keeps disappearing")

    # -- blobs ------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store *data* and return its sha256 hex digest.

        A blob already stored with the right size is not rewritten.
        """
        import hashlib  # not at import: OpenSSL's library costs start-up

        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs_dir / digest[:2] / digest
        try:
            present = path.stat().st_size == len(data)
        except OSError:
            present = False
        if not present:  # absent, or cut short: (re)write it
            self._write_atomic(path, bytes(data), f"blob {digest}")
        return digest

    def get_blob(self, digest: str) -> bytes:
        """Return a blob; raises NotFoundError if absent, StoreError if damaged."""
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"blob {digest} not found") from None
        except OSError as exc:
            raise StoreError(f"cannot read blob {digest}: {exc}") from exc
        import hashlib

        if hashlib.sha256(data).hexdigest() != path.name:
            raise StoreError(f"blob {digest} is damaged: its content does not match its digest")
        return data

    def has_blob(self, digest: str) -> bool:
        """Tell whether a blob is stored."""
        return self.blob_path(digest).is_file()

    # -- keys -------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        """Store *data* under *key*, replacing what was there."""
        self._write_atomic(self.key_path(key), bytes(data), f"key {key!r}")

    def get(self, key: str) -> bytes:
        """Return a key's data; raises :class:`~sparkwing.errors.NotFoundError` if absent."""
        path = self.key_path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"artifact key {key!r} not found") from None
        except OSError as exc:
            raise StoreError(f"cannot read artifact key {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether a key is stored."""
        return self.key_path(key).is_file()

    def delete(self, key: str) -> bool:
        """Delete a key; ``False`` if it did not exist. Empty parent directories go too."""
        path = self.key_path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except IsADirectoryError:
            return False
        except OSError as exc:
            if path.is_dir():
                return False
            raise StoreError(f"cannot delete artifact key {key!r}: {exc}") from exc
        parent = path.parent
        while parent != self.keys_dir:
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or being written to): leave it
            parent = parent.parent
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys that start with *prefix* (plain string prefix), sorted."""
        head, _, _ = prefix.rpartition("/")
        start = self.keys_dir.joinpath(*head.split("/")) if head else self.keys_dir
        if head and any(seg in ("", ".", "..") for seg in head.split("/")):
            return []
        found: list[str] = []
        base = len(str(self.keys_dir)) + 1
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(TMP_PREFIX)]
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                key = os.path.join(dirpath, name)[base:].replace(os.sep, "/")
                if key.startswith(prefix):
                    found.append(key)
        found.sort()
        return found

    def close(self) -> None:
        """Nothing to release; present for the contract."""
