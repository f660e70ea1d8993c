"""The one supervisor of raycompat's child processes, and the one stopper.

Every place that starts processes (the embedded cluster, a `raycompat start` node, the actor
spawner) hands them to a ``Supervisor``: one thread notices when a child exits and calls the
policy it was given with that child, which starts a replacement or gives up. ``stop()`` ends
processes: it waits for them, then kills those left.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from typing import Callable, Iterable, Optional

import psutil

logger = logging.getLogger("raycompat")

Process = subprocess.Popen[bytes]
OnExit = Callable[[str, Process], Optional[Process]]

POLL_INTERVAL = 0.1  # seconds between looks at the children


class Supervisor:
    """Watch child processes from one thread; when one exits, ask its policy what to do.

    A policy is ``on_exit(name, proc)``, called on the supervisor's thread after ``proc`` has
    exited. It returns the process that replaces ``proc`` (watched under the same name, with the
    same policy), or None to give up on ``name``. A policy that raises gives up as well.

    Example::

        supervisor = Supervisor()
        supervisor.watch("worker-0", subprocess.Popen(cmd), lambda name, proc: subprocess.Popen(cmd))
        ...
        supervisor.close()                          # no restarts from here on
        stop(supervisor.procs().values(), timeout=3)
    """

    def __init__(self, name: str = "raycompat-supervisor") -> None:
        self._watched: dict[str, tuple[Process, OnExit]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def watch(self, name: str, proc: Process, on_exit: OnExit) -> None:
        """Watch ``proc`` as ``name`` (replacing what was watched under that name)."""
        with self._lock:
            self._watched[name] = (proc, on_exit)

    def procs(self) -> dict[str, Process]:
        """The processes watched now, by name: the latest of each, alive or not yet noticed dead."""
        with self._lock:
            return {name: proc for name, (proc, _) in self._watched.items()}

    @property
    def closing(self) -> bool:
        """Whether ``close()`` was called: no policy runs any more."""
        return self._closing.is_set()

    def close(self, timeout: float = 2) -> None:
        """Stop restarting; wait up to ``timeout`` seconds for a policy that is running to end.

        The processes keep running: stop them with ``stop(supervisor.procs().values(), ...)``.
        """
        self._closing.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._closing.wait(POLL_INTERVAL):
            with self._lock:
                exited = [(name, proc, on_exit) for name, (proc, on_exit) in self._watched.items() if proc.poll() is not None]
            for name, proc, on_exit in exited:
                if self._closing.is_set():
                    return
                self._ask(name, proc, on_exit)

    def _ask(self, name: str, proc: Process, on_exit: OnExit) -> None:
        """Run the policy of ``name``, whose ``proc`` exited, and watch what it returns."""
        try:
            replacement = on_exit(name, proc)
        except Exception:  # noqa: BLE001 - e.g. the scheduler it asks is gone: nothing to restart for
            logger.debug("the exit policy of %s failed; not restarting it", name, exc_info=True)
            replacement = None
        with self._lock:
            if replacement is not None:
                self._watched[name] = (replacement, on_exit)
            elif self._watched.get(name, (None,))[0] is proc:
                del self._watched[name]

    def __repr__(self) -> str:
        return f"<Supervisor watching {sorted(self.procs())}>"


def stop(procs: Iterable[Process], timeout: float, *, terminate: bool = False) -> None:
    """End our child processes ``procs``: wait for them to exit, then kill those left.

    Args:
        procs: Child processes, already told to exit (the scheduler closed), unless ``terminate``.
        timeout: Seconds they get, all together, to exit on their own; 0 kills them at once.
        terminate: Send each one SIGTERM first.
    """
    procs = list(procs)
    if terminate:
        for proc in procs:
            proc.terminate()  # a no-op for one that has exited
    # wait_procs takes Popen objects as they are: it calls proc.wait(timeout) on each.
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive)
