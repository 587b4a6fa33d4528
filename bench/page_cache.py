"""Page-cache control shared by the benchmark scripts."""

import os


def evict(files):
    """Drops the files' pages from the page cache, for cold-cache runs."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(files):
    """Reads the files once so their pages are cached, for warm-cache runs."""
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass
