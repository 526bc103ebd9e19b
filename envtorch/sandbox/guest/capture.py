"""Capture of stdout and stderr at the file-descriptor level, in memory files.

File descriptors 1 and 2 point at memory files, so `print`, `os.write(1, ...)` and the output of
subprocesses all land there. Each execution rewinds them; output beyond the cap is cut with a
visible marker.
"""

from __future__ import annotations

import io
import os
import sys


class Capture:
    """One captured stream: a memory file kept on file descriptor `target`."""

    def __init__(self, target: int, name: str) -> None:
        self._target = target
        self._fd = os.memfd_create(name, os.MFD_CLOEXEC)

    def rewind(self) -> None:
        """Empty the stream and point `target` at it again, whatever the last execution did."""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.dup2(self._fd, self._target)

    def close(self) -> None:
        """Close the memory file; `target` keeps whatever it points at."""
        os.close(self._fd)

    def text(self, limit: int) -> str:
        """What was written since the last rewind, cut to `limit` bytes with a marker."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return ""
        text = os.pread(self._fd, limit, 0).decode("utf-8", errors="replace")
        if size > limit:
            text += f"\n[... output truncated: {size - limit} more bytes]"
        return text


def text_stream(fd: int) -> io.TextIOWrapper:
    """An unbuffered text stream on `fd`, so Python's and raw writes keep their order."""
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True)


class Streams:
    """stdout and stderr of a session."""

    def __init__(self) -> None:
        self.stdout = Capture(1, "stdout")
        self.stderr = Capture(2, "stderr")
        self._python_stdout = text_stream(1)
        self._python_stderr = text_stream(2)
        self.rewind()

    def rewind(self) -> None:
        """Start a fresh capture and restore `sys.stdout` and `sys.stderr`."""
        self.stdout.rewind()
        self.stderr.rewind()
        sys.stdout = self._python_stdout
        sys.stderr = self._python_stderr

    def close(self) -> None:
        """Close both memory files."""
        self.stdout.close()
        self.stderr.close()

    def flush(self) -> None:
        """Flush whatever stream objects the executed code left in `sys`."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                continue
