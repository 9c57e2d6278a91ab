"""A site's files in order, the next few fetched ahead: publishing is a stream of small GETs, and
one GET's latency must not stall the upload or the zip that consumes them.

The window is bounded twice, by files and by bytes, so memory stays flat however large the site
is: small files are read whole (and verified) ahead of their turn, a large one is streamed in
chunks when its turn comes. Each file is verified against its sha256 by the reader before its last
chunk is handed over."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from sitedeploy.platforms.base import SiteFile, StreamReader

MIB = 1024 * 1024
READ_AHEAD_FILES = 8
READ_AHEAD_BYTES = 16 * MIB
SMALL_FILE_BYTES = 4 * MIB


def read_ahead(
    files: Sequence[SiteFile],
    read: StreamReader,
    *,
    workers: int = READ_AHEAD_FILES,
    budget: int = READ_AHEAD_BYTES,
    small: int = SMALL_FILE_BYTES,
) -> Generator[tuple[SiteFile, Iterator[bytes]], None, None]:
    """Each file with its chunks, in the order given. At most ``workers`` files and ``budget``
    bytes are held ahead; a file over ``small`` bytes is never read ahead, only streamed."""

    def whole(site_file: SiteFile) -> bytes:
        return b"".join(read(site_file))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[tuple[SiteFile, Future[bytes] | None]] = deque()
        position = 0
        held = 0  # bytes of the small files in the window

        def fill() -> None:
            nonlocal position, held
            while position < len(files) and len(pending) < workers:
                site_file = files[position]
                ahead = site_file.size <= small
                if ahead and pending and held + site_file.size > budget:
                    return
                position += 1
                if ahead:
                    held += site_file.size
                pending.append((site_file, pool.submit(whole, site_file) if ahead else None))

        try:
            fill()
            while pending:
                site_file, future = pending.popleft()
                if future is None:
                    fill()
                    yield site_file, read(site_file)
                    continue
                data = future.result()
                held -= site_file.size
                fill()
                yield site_file, iter((data,))
        finally:
            for _, future in pending:
                if future is not None:
                    future.cancel()
