"""The one supervisor and the one stopper of raycompat's child processes, on real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

from raycompat._dask.process.supervisor import Supervisor, stop

IGNORES_SIGTERM = """
import signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
sys.stdin.read()
"""


def _python(source: str, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", source], **kwargs)


def test_stop_kills_a_process_that_ignores_sigterm():
    stubborn = _python(IGNORES_SIGTERM, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert stubborn.stdout.readline() == b"ready\n"  # its SIGTERM handler is in place
    polite = _python("import sys; sys.stdin.read()", stdin=subprocess.PIPE)

    stop([stubborn, polite], timeout=0.5, terminate=True)

    assert stubborn.returncode == -signal.SIGKILL
    assert polite.returncode == -signal.SIGTERM


def test_stop_leaves_a_process_that_exits_on_its_own_alone():
    proc = _python("import sys; sys.exit(sys.stdin.read() == 'bye')", stdin=subprocess.PIPE)
    proc.stdin.write(b"bye")
    proc.stdin.close()  # it exits once it has read this

    stop([proc], timeout=60)

    assert proc.returncode == 1


def test_supervisor_asks_the_policy_until_it_gives_up():
    exits: list[int] = []
    gave_up = threading.Event()

    def restart_twice(name: str, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes] | None:
        exits.append(proc.returncode)
        if len(exits) < 3:
            return _python(f"raise SystemExit({len(exits)})")
        gave_up.set()
        return None

    supervisor = Supervisor()
    supervisor.watch("child", _python("raise SystemExit(0)"), restart_twice)
    assert gave_up.wait(timeout=60)
    supervisor.close()  # waits for the policy to return

    assert exits == [0, 1, 2]
    assert supervisor.procs() == {}


def test_a_policy_that_raises_gives_up_and_the_others_go_on():
    asked = threading.Event()
    restarted = threading.Event()

    def broken(name: str, proc: subprocess.Popen[bytes]) -> None:
        asked.set()
        raise ConnectionError("the scheduler is gone")

    def once(name: str, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes] | None:
        if restarted.is_set():
            return None
        restarted.set()
        return _python("import sys; sys.stdin.read()", stdin=subprocess.PIPE)

    supervisor = Supervisor()
    supervisor.watch("broken", _python("pass"), broken)
    supervisor.watch("healthy", _python("pass"), once)
    assert asked.wait(timeout=60) and restarted.wait(timeout=60)
    supervisor.close()  # waits for the policies to return

    assert list(supervisor.procs()) == ["healthy"]
    replacement = supervisor.procs()["healthy"]
    assert replacement.poll() is None
    stop([replacement], timeout=0)
    assert replacement.returncode == -signal.SIGKILL
