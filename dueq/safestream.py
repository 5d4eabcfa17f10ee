"""Output that may vanish: ``dueq up | head -3`` must still stop on time.

When the reader of stdout goes away (``head`` exits, ``tee`` is killed with Ctrl-C), every
later write raises ``BrokenPipeError``.  Raised from a signal handler or between the wait
and the stop, it would skip the stop and leave the worker's threads running for ever.
``SafeStream`` swallows that error once and for all: the stream is marked gone, later
writes are dropped, and file descriptor 1 is pointed at /dev/null so the interpreter's
own flush at exit stays silent too.
"""

from __future__ import annotations

import io
import os
from typing import TextIO

__all__ = ["SafeStream"]


class SafeStream(io.TextIOBase):
    """A text stream wrapper whose writes never raise ``OSError``."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except OSError:
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError:
                self._lose()

    def isatty(self) -> bool:
        return not self.gone and self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # the wrapped stream's, fixed
        return self._stream.encoding

    def _lose(self) -> None:
        self.gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no real descriptor (a test's buffer): dropping is enough
            pass
