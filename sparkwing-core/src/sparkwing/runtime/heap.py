"""Keeping freed memory in the process heap while command output streams through it.

Streaming a chatty command's output allocates and frees a few buffers of
up to about 512 KiB per pipe read (the chunk read, up to 256 KiB, its text,
the framed records and their encoded bytes). With glibc's default thresholds (128 KiB) freed
memory at the top of the heap is returned to the kernel at once and the
next read takes it back page by page: a page fault for every 4 KiB that
passes (some 17,000 for a job printing 200,000 lines of 80 bytes).

glibc adjusts its thresholds itself: freeing a block it had mapped with
``mmap`` (any block above the mmap threshold) raises the mmap threshold to
that block's size and the trim threshold to twice that (see mallopt(3),
``M_MMAP_THRESHOLD``). :func:`keep_freed_heap` allocates and frees one such
block, which never touches its pages (zeroed memory from ``calloc`` on a
fresh mapping), so the heap keeps up to :data:`KEEP_BYTES` times two of freed
memory for reuse. On other C libraries it is an allocation and a free.
"""

from __future__ import annotations

#: The size of the block whose free raises glibc's thresholds.
KEEP_BYTES = 4 << 20

_done = False


def keep_freed_heap() -> None:
    """Raise glibc's mmap and trim thresholds, once per process (see the module's docs)."""
    global _done
    if not _done:
        _done = True
        bytes(KEEP_BYTES)  # calloc'ed (untouched pages), then freed at once
