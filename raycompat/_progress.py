"""Progress bars: ``raycompat.progress(refs)`` and the bar behind ``ray.experimental.tqdm_ray``.

tqdm is optional: when it is importable the bars are tqdm's, else a plain text line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from . import _objects
from ._objects import ObjectRef


def _tqdm_class() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class TextBar:
    """A one-line text progress bar, for when tqdm is not installed."""

    WIDTH = 30

    def __init__(self, total: int | None, desc: str | None = None, unit: str | None = None, file: TextIO | None = None, line_end: str = "\r") -> None:
        self.total = total
        self.desc = desc or ""
        self.unit = unit or "it"
        self.n = 0
        self.file = file or sys.stderr
        self.line_end = line_end
        self.started = time.monotonic()

    def text(self) -> str:
        label = f"{self.desc}: " if self.desc else ""
        if self.total:
            done = min(self.WIDTH, int(self.WIDTH * self.n / self.total))
            bar = "#" * done + "-" * (self.WIDTH - done)
            return f"{label}{100 * self.n // self.total:3d}%|{bar}| {self.n}/{self.total} {self.unit}"
        return f"{label}{self.n} {self.unit}"

    def update(self, n: int = 1) -> None:
        self.n += n
        self.refresh()

    def refresh(self) -> None:
        self.file.write(self.text() + self.line_end)
        self.file.flush()

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        if self.line_end == "\r":
            self.file.write(self.text() + "\n")
            self.file.flush()


def make_bar(total: int | None, desc: str | None = None, unit: str | None = None, file: TextIO | None = None) -> Any:
    """A tqdm bar if tqdm is installed, else a TextBar; both have update/refresh/close."""
    tqdm = _tqdm_class()
    if tqdm is not None:
        return tqdm(total=total, desc=desc, unit=unit or "it", file=file)
    return TextBar(total, desc, unit, file)


def progress(refs: Sequence[ObjectRef[Any]], *, desc: str | None = None, file: TextIO | None = None) -> None:
    """Show a progress bar while ``refs`` finish; return when all are done.

    Args:
        refs: ObjectRefs of running tasks (or ObjectRefGenerators).
        desc: A label in front of the bar.
        file: Where to draw it; default stderr.

    Uses tqdm if it is importable, else prints a plain text line. Errors are not raised here:
    ``ray.get(refs)`` afterwards raises them.

    Raises:
        TypeError: If ``refs`` is not a list of ObjectRefs.
    """
    pending = list(refs)
    bar = make_bar(len(pending), desc=desc, unit="task", file=file)
    try:
        bar.refresh()
        while pending:
            ready, pending = _objects.wait(pending, num_returns=1)
            if pending:
                more, pending = _objects.wait(pending, num_returns=len(pending), timeout=0)
                ready += more
            bar.update(len(ready))
    finally:
        bar.close()
