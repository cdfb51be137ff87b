"""Terminal output for every command: one console factory and one progress reporter.

On a terminal, rich wraps text to the window and draws live progress bars. When output goes to a file or a
pipe (a log), nothing is wrapped (protocol strings, paths and titles stay on one line, tables keep their full
cells) and progress is one plain line every few seconds instead of a bar that a log cannot show.

Example:
    >>> with progress("demo", total=3, enabled=False) as advance:
    ...     for _ in range(3):
    ...         advance()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

#: Width used for tables when the output is not a terminal (a log): wide enough that no cell is cut.
LOG_WIDTH = 400
#: Seconds between two progress lines in a log.
LOG_EVERY_S = 5.0


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default stdout) is an interactive terminal."""
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def console(stderr: bool = False, **kwargs: Any) -> Any:
    """A rich ``Console`` for ``stderr`` or stdout that never wraps long values when it is not a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    kwargs.setdefault("highlight", False)
    if not is_terminal(stream):
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("width", LOG_WIDTH)
    return Console(stderr=stderr, **kwargs)


class _LogProgress:
    """Plain progress lines for logs: ``<description>: i/n (p%) <elapsed>s``, one every few seconds."""

    def __init__(self, description: str, total: int | None, stream: IO[str], every_s: float) -> None:
        self.description, self.total, self.stream, self.every_s = description, total, stream, every_s
        self.done = 0
        self.start = self.last = time.monotonic()

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        if self.total:
            return (f"{self.description}: {self.done}/{self.total} "
                    f"({100.0 * self.done / self.total:.0f}%) {elapsed:.0f}s")
        return f"{self.description}: {self.done} {elapsed:.0f}s"

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        print(self._line() + " done", file=self.stream, flush=True)


@contextmanager
def progress(
    description: str, total: int | None = None, *, enabled: bool = True, every_s: float = LOG_EVERY_S
) -> Iterator[Callable[..., None]]:
    """Report the progress of a loop on stderr; yields ``advance(n=1)``.

    A live bar on a terminal; in a log, one line every ``every_s`` seconds and a final line. ``enabled=False``
    prints nothing.
    """
    if not enabled:
        yield lambda n=1: None
        return
    if not is_terminal(sys.stderr):
        rep = _LogProgress(description, total, sys.stderr, every_s)
        yield rep.advance
        rep.close()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
