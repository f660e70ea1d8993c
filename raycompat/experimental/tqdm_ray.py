"""``ray.experimental.tqdm_ray``: a tqdm-like progress bar for tasks and actors.

In a task or actor the bar is printed as a text line at most every ``flush_interval_s``
seconds; task output goes to the driver (prefixed ``(name pid=N)``), so the driver shows it.
In the driver it is a tqdm bar if tqdm is installed, else a text line.

Dask note: Ray draws one live bar per remote bar on the driver; here each update from a task
is a printed line, since task output reaches the driver line by line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .._dask import task_context
from .._progress import TextBar, make_bar


def _in_task() -> bool:
    return task_context.current().job_id is not None


class tqdm:  # noqa: N801 - Ray's name
    """A progress bar usable in tasks and actors: ``for x in tqdm(items, desc="work"): ...``.

    Args:
        iterable: What to iterate over, if any.
        desc: A label for the bar.
        total: The number of steps; default ``len(iterable)`` when it has one.
        unit: The name of one step.
        position: Accepted for compatibility.
        flush_interval_s: In a task, print at most this often (default 1 s).
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        desc: str | None = None,
        total: int | None = None,
        unit: str | None = None,
        position: int | None = None,
        flush_interval_s: float | None = None,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                total = None
        self._iterable = iterable
        self._flush_interval_s = 1.0 if flush_interval_s is None else flush_interval_s
        self._last_flush = 0.0
        self._closed = False
        if _in_task():  # printed lines reach the driver with the task's prefix
            self._bar: Any = TextBar(total, desc, unit, line_end="\n")
            self._bar.file = sys.stdout
        else:
            self._bar = make_bar(total, desc=desc, unit=unit)

    @property
    def total(self) -> int | None:
        return self._bar.total  # type: ignore[no-any-return]

    @total.setter
    def total(self, total: int) -> None:
        self._bar.total = total

    @property
    def n(self) -> int:
        return int(self._bar.n)

    @n.setter
    def n(self, n: int) -> None:
        self._bar.n = n

    def set_description(self, desc: str) -> None:
        self._bar.set_description(desc)
        self._flush()

    def update(self, n: int = 1) -> None:
        if isinstance(self._bar, TextBar):
            self._bar.n += n
            self._flush()
        else:
            self._bar.update(n)

    def refresh(self) -> None:
        self._flush(force=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if isinstance(self._bar, TextBar) and self._bar.line_end == "\n":
            self._flush(force=True)
        else:
            self._bar.close()

    def _flush(self, force: bool = False) -> None:
        if not isinstance(self._bar, TextBar):
            self._bar.refresh()
            return
        now = time.monotonic()
        done = self._bar.total is not None and self._bar.n >= self._bar.total
        if force or done or now - self._last_flush >= self._flush_interval_s:
            self._last_flush = now
            self._bar.refresh()

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise ValueError("No iterable provided")
        for item in self._iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> tqdm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def safe_print(*args: Any, **kwargs: Any) -> None:
    """Print; kept for Ray compatibility (bars never hide output here)."""
    print(*args, **kwargs)
