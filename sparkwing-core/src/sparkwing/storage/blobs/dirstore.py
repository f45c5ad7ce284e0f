"""The ``dir`` blob backend: an object store in a local (or shared) directory.

It implements :class:`~sparkwing.storage.blobs.contracts.BlobStore` with the
same semantics as S3, GCS and Azure, so every store built on blobs can be
used and tested without an emulator, and two ``SPARKWING_HOME`` s on one
machine can share a team store.

Layout under ``path``: one file per object, at the object's key (with the
``prefix`` setting in front). Each ``/``-separated key segment becomes a
file or directory name, escaped so that every key maps to a distinct name
even on case-insensitive file systems: ``[a-z0-9_-]`` and inner dots stay,
an upper-case letter ``X`` becomes ``^x``, anything else ``%xx`` per UTF-8
byte. An object file starts with a 25-byte header holding its etag (16 hex
digits, new for every write), then the data. A key cannot be both an object
and a "directory" of other objects (``a`` and ``a/b``): such a put raises
:class:`~sparkwing.errors.StoreError`.

Atomicity: a write goes to a temporary file (``.sw-tmp-*``) in the target
directory and is renamed over the object with :func:`os.replace`, so
readers see the old or the new object, whole. Conditional puts and deletes
check the current etag and write while holding one of 64 lock files
(``.sw-locks/<n>``, chosen by the key) with :func:`fcntl.flock`, plus a
thread lock, so their check-and-write is atomic across threads and
processes on one machine (and on network file systems whose ``flock``
works across machines).

Opened with ``read_only`` (the profile key ``read_only: true``; what
``--from DIR`` uses), the directory must already exist, nothing in it is
created or changed, and every put or delete raises
:class:`~sparkwing.errors.StoreError`.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ...errors import ConfigError, NotFoundError, StoreError
from ...paths import make_private_dir, open_private
from .contracts import Blob, BlobInfo, BlobPage, PreconditionFailed

#: Bytes before the data in every object file: magic, 16 hex digits of etag, newline.
HEADER_LEN = 25
_MAGIC = b"SWBLOB1 "
_STRIPES = 64
_TMP = ".sw-tmp-"
_LOCKS = ".sw-locks"
_KEEP = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


_PLAIN = re.compile(r"[a-z0-9_-][a-z0-9_.-]*")


def encode_segment(seg: str) -> str:
    """Return the file name for one key segment (see the module docstring)."""
    if _PLAIN.fullmatch(seg):
        return seg
    out: list[str] = []
    for i, ch in enumerate(seg):
        if ch in _KEEP and not (i == 0 and ch == "."):
            out.append(ch)
        elif "A" <= ch <= "Z":
            out.append("^" + ch.lower())
        else:
            out.extend(f"%{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def decode_segment(name: str) -> str:
    """Invert :func:`encode_segment`; raises :class:`ValueError` for a name it never makes."""
    if "%" not in name and "^" not in name:
        return name
    raw = bytearray()
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "%":
            raw.append(int(name[i + 1 : i + 3], 16))
            i += 3
        elif ch == "^":
            raw.extend(name[i + 1].upper().encode("ascii"))
            i += 2
        else:
            raw.extend(ch.encode("utf-8"))
            i += 1
    return raw.decode("utf-8")


class DirBlobStore:
    """:class:`~sparkwing.storage.blobs.contracts.BlobStore` over a directory tree.

    *prefix* (``/``-separated, may be empty) is put in front of every key.
    With *durable*, each write is fsync'ed before it is renamed into place.
    Files are created owner-only (0600, directories 0700).
    """

    kind = "dir"
    #: Reads of many objects go one after the other: threads cost more than a local read.
    parallel_reads = 1

    def __init__(self, root: Path | str, prefix: str = "", *, durable: bool = False,
                 read_only: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.prefix = "/".join(p for p in str(prefix or "").split("/") if p)
        self.durable = durable
        self.read_only = read_only
        self._thread_locks = [threading.Lock() for _ in range(_STRIPES)]
        self._lock_fds: dict[int, int] = {}
        self._fd_lock = threading.Lock()
        self._etags: dict[str, tuple[tuple[int, int, int], str]] = {}

    def __repr__(self) -> str:
        return f"DirBlobStore({str(self.root)!r}, prefix={self.prefix!r})"

    # -- keys and paths -----------------------------------------------------------
    def _full(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise StoreError(f"blob key {key!r} is not valid: it must be a non-empty string")
        if key.startswith("/") or key.endswith("/") or "//" in key or "\x00" in key:
            raise StoreError(f"blob key {key!r} is not valid: empty '/'-separated segment")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _path(self, key: str) -> Path:
        names = [encode_segment(s) for s in self._full(key).split("/")]
        for name in names:
            if len(name.encode("utf-8")) > 250:
                raise StoreError(
                    f"blob key {key!r} has a segment too long for a file name "
                    "(at most about 80 non-ASCII or 250 ASCII characters)"
                )
        return self.root.joinpath(*names)

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        stripe = zlib.crc32(self._full(key).encode("utf-8")) % _STRIPES
        with self._thread_locks[stripe]:
            fd = self._lock_fd(stripe)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_fd(self, stripe: int) -> int:
        with self._fd_lock:
            fd = self._lock_fds.get(stripe)
            if fd is None:
                locks = self.root / _LOCKS
                try:
                    make_private_dir(locks)
                    fd = open_private(locks / f"{stripe:02d}", os.O_RDWR | os.O_CREAT)
                except OSError as exc:
                    raise StoreError(f"dir store {self.root}: cannot create lock files: "
                                     f"{exc.strerror}") from exc
                self._lock_fds[stripe] = fd
            return fd

    # -- reading ----------------------------------------------------------------
    @staticmethod
    def _read_header(f: BinaryIO, path: Path) -> str:
        head = f.read(HEADER_LEN)
        if len(head) != HEADER_LEN or not head.startswith(_MAGIC):
            raise StoreError(f"dir store file {path} is not a sparkwing blob (bad header)")
        return str(head[len(_MAGIC) : len(_MAGIC) + 16].decode("ascii"))

    def _current_etag(self, path: Path) -> str | None:
        try:
            with open(path, "rb") as f:
                return self._read_header(f, path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def get(self, key: str) -> Blob | None:
        """Return the object and its etag, or ``None``."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                etag = self._read_header(f, path)
                data = f.read()
                mtime = os.fstat(f.fileno()).st_mtime
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"dir store: cannot read {path}: {exc.strerror}") from exc
        return Blob(data, BlobInfo(key, etag, len(data), mtime))

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``[start, end)`` of the object; :class:`NotFoundError` when missing."""
        if start < 0 or (end is not None and end < start):
            raise StoreError(f"bad byte range [{start}, {end}) for blob {key!r}")
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                self._read_header(f, path)
                f.seek(HEADER_LEN + start)
                return f.read() if end is None else f.read(end - start)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"blob {key!r} not found") from None

    def head(self, key: str) -> BlobInfo | None:
        """Return the object's info, or ``None``."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                etag = self._read_header(f, path)
                st = os.fstat(f.fileno())
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return BlobInfo(key, etag, st.st_size - HEADER_LEN, st.st_mtime)

    # -- writing ----------------------------------------------------------------
    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write the object whole; :class:`PreconditionFailed` when a condition does not hold."""
        self._refuse_write(key)
        if if_none_match is not None and if_none_match != "*":
            raise StoreError(f'if_none_match may only be "*", got {if_none_match!r}')
        if if_match is not None and if_none_match is not None:
            raise StoreError("give at most one of if_match and if_none_match")
        path = self._path(key)
        with self._locked(key):
            if if_match is not None or if_none_match is not None:
                current = self._current_etag(path)
                if if_none_match is not None and current is not None:
                    raise PreconditionFailed(f"blob {key!r} already exists")
                if if_match is not None and current != if_match:
                    raise PreconditionFailed(
                        f"blob {key!r} is not at version {if_match}"
                        + (" (it does not exist)" if current is None else "")
                    )
            etag = os.urandom(8).hex()
            self._write(path, key, _MAGIC + etag.encode("ascii") + b"\n" + bytes(data))
        return BlobInfo(key, etag, len(data), time.time())

    def _refuse_write(self, key: str) -> None:
        if self.read_only:
            raise StoreError(f"dir store {self.root} is opened read-only: cannot change {key!r}")

    def _write(self, path: Path, key: str, payload: bytes) -> None:
        tmp = path.parent / f"{_TMP}{os.getpid()}-{os.urandom(6).hex()}"
        for attempt in range(5):
            try:
                make_private_dir(path.parent)
                fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                break
            except FileNotFoundError:  # a delete removed the empty directory meanwhile
                if attempt == 4:
                    raise StoreError(f"dir store: cannot create {path.parent}") from None
            except (FileExistsError, NotADirectoryError) as exc:
                raise StoreError(
                    f"dir store: blob key {key!r} clashes with an existing object "
                    "(a key cannot be both an object and a prefix of other keys)"
                ) from exc
            except OSError as exc:
                raise StoreError(f"dir store: cannot write {path}: {exc.strerror}") from exc
        try:
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except IsADirectoryError as exc:
            _unlink_quietly(tmp)
            raise StoreError(
                f"dir store: blob key {key!r} clashes with an existing object "
                "(a key cannot be both an object and a prefix of other keys)"
            ) from exc
        except OSError as exc:
            _unlink_quietly(tmp)
            raise StoreError(f"dir store: cannot write {path}: {exc.strerror}") from exc

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist (whatever *if_match* says)."""
        self._refuse_write(key)
        path = self._path(key)
        with self._locked(key):
            current = self._current_etag(path)
            if current is None:
                return False
            if if_match is not None and current != if_match:
                raise PreconditionFailed(f"blob {key!r} is not at version {if_match}")
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
        self._prune_dirs(path.parent)
        return True

    def _prune_dirs(self, directory: Path) -> None:
        """Remove empty directories from *directory* up (best effort).

        First-level directories below the prefix stay: they fill and empty
        all the time (``live/``, markers) and re-creating them costs more.
        """
        stop = self.root.joinpath(*(encode_segment(s) for s in self.prefix.split("/") if s))
        while directory.parent != stop and stop in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    # -- listing ----------------------------------------------------------------
    def list_page(self, prefix: str, *, page_token: str = "", page_size: int = 1000) -> BlobPage:
        """List objects whose key starts with *prefix*, in key order, one page at a time."""
        if page_size <= 0:
            raise StoreError(f"page_size must be positive, got {page_size}")
        full = (f"{self.prefix}/{prefix}" if prefix else f"{self.prefix}/") if self.prefix \
            else prefix
        complete = full.split("/")[:-1]  # segments the prefix spells out whole
        base = self.root.joinpath(*(encode_segment(s) for s in complete if s))
        strip = len(self.prefix) + 1 if self.prefix else 0
        found: list[tuple[str, str]] = []
        for rel, path in _walk(str(base), "/".join(s for s in complete if s)):
            if rel.startswith(full):
                key = rel[strip:]
                if key > page_token:
                    found.append((key, path))
        found.sort()
        page = found[:page_size]
        items: list[BlobInfo] = []
        for key, path in page:
            info = self._listed_info(key, path)
            if info is not None:  # deleted since the walk
                items.append(info)
        more = len(found) > page_size
        return BlobPage(items, page[-1][0] if more and page else "")

    def _listed_info(self, key: str, path: str) -> BlobInfo | None:
        """:meth:`head` of a listed file, answered from a cache while it is the same file.

        Every write renames a new file into place, so an unchanged (inode,
        mtime, size) is an unchanged object; listings of a stream's parts
        then cost one ``stat`` per object instead of an ``open``.
        """
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        ident = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._fd_lock:
            known = self._etags.get(path)
        if known is not None and known[0] == ident:
            return BlobInfo(key, known[1], st.st_size - HEADER_LEN, st.st_mtime)
        info = self.head(key)
        if info is not None:
            with self._fd_lock:
                if len(self._etags) > 100_000:
                    self._etags.clear()
                self._etags[path] = (ident, info.etag)
        return info

    def check(self) -> None:
        """Create the directory when missing; :class:`ConfigError` when it cannot be used.

        A read-only store only checks that the directory exists.
        """
        if self.read_only:
            if not self.root.is_dir():
                raise ConfigError(f"dir store path {self.root} is not an existing directory")
            return
        try:
            make_private_dir(self.root)
        except OSError as exc:
            raise ConfigError(f"dir store path {self.root}: cannot create it ({exc.strerror}); "
                              "set path to a writable directory") from exc
        if not self.root.is_dir():
            raise ConfigError(f"dir store path {self.root} is not a directory; "
                              "set path to a directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ConfigError(f"dir store path {self.root} is not writable by this user")

    def close(self) -> None:
        """Close the lock files."""
        with self._fd_lock:
            for fd in self._lock_fds.values():
                os.close(fd)
            self._lock_fds.clear()


def _walk(base: str, rel: str) -> Iterator[tuple[str, str]]:
    """Yield ``(decoded key, file path)`` of every object file under *base* (key prefix *rel*)."""
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = entry.name
        if name.startswith(".sw-"):
            continue
        try:
            seg = decode_segment(name)
        except (ValueError, IndexError, UnicodeDecodeError):
            continue  # not a name this store made
        key = f"{rel}/{seg}" if rel else seg
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            yield from _walk(entry.path, key)
        else:
            yield key, entry.path


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
