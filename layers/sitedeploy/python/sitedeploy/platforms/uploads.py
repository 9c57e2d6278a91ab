"""File uploads that platforms addressing files by digest share (Netlify, Vercel): a body a retry
can send again, and a few uploads at a time with progress as they land.

urllib3 rewinds a file-like body when it retries, so every body must be re-readable: a small file
is held in memory, a large one spooled to a temporary file, which keeps memory bounded by the
upload concurrency rather than by the largest file."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import IO, TypeVar

from sitedeploy.domain.sitefiles import MIB
from sitedeploy.platforms.base import Progress, SiteFile, StreamReader

IN_MEMORY_BYTES = 8 * MIB  # a body up to this is held in memory for retries; a larger one is spooled

T = TypeVar("T")


@contextmanager
def resendable(
    site_file: SiteFile, read: StreamReader, *, in_memory: int = IN_MEMORY_BYTES
) -> Iterator[bytes | IO[bytes]]:
    """The file's bytes in a form a retry can send again, in memory up to ``in_memory`` bytes;
    a spooled file is gone on leaving."""
    if site_file.size <= in_memory:
        yield b"".join(read(site_file))
        return
    with tempfile.TemporaryFile() as spooled:
        for chunk in read(site_file):
            spooled.write(chunk)
        spooled.seek(0)
        yield spooled


def upload_all(
    items: Sequence[T],
    send: Callable[[T], None],
    size: Callable[[T], int],
    *,
    concurrency: int,
    progress: Progress | None,
    sent_before: tuple[int, int] = (0, 0),
    thread_name_prefix: str = "upload",
) -> tuple[int, int]:
    """``send`` each item, ``concurrency`` at a time, reporting bytes as each lands; ``sent_before``
    (files, bytes) is what earlier rounds sent, counted on from. Answers (files, bytes) sent in all.

    The first failure ends the job: uploads not started yet are dropped rather than sent for a
    deployment that has already failed."""
    files, sent = sent_before
    total = sent + sum(size(item) for item in items)
    lock = threading.Lock()
    if progress and items:
        progress(sent, total)

    stopped = threading.Event()

    def one(item: T) -> None:
        nonlocal sent, files
        if stopped.is_set():
            return  # the job has failed: the workers stop starting uploads at once, not when the caller wakes
        try:
            send(item)
        except BaseException:
            stopped.set()
            raise
        with lock:
            sent += size(item)
            files += 1
            done = sent
        if progress:
            progress(done, total)

    if len(items) == 1:
        one(items[0])
    elif items:
        pool = ThreadPoolExecutor(
            max_workers=min(max(1, concurrency), len(items)), thread_name_prefix=thread_name_prefix
        )
        try:
            futures = [pool.submit(one, item) for item in items]
            # Not in submission order: a slow early upload must not hide a later failure while
            # the pool goes on starting uploads for a deployment that has already failed.
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            for future in failed[:1] + futures:
                future.result()  # the first failure raises here
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return files, sent
