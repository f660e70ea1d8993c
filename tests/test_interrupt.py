"""Ctrl-C in the driver: a real SIGINT to a driver blocked in get, wait or an actor call raises
KeyboardInterrupt there, as in Ray, prints nothing else, and leaves the session usable; Ctrl-C
at any moment never hangs the session or its shutdown."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import SUBPROCESS_TIMEOUT, describe, python_env

from raycompat._dask import interrupts

DRIVER = """
import sys
import time
import ray

ray.init(num_cpus=2, include_dashboard=False)

@ray.remote
def slow():
    time.sleep(120)

@ray.remote
class Sleeper:
    def sleep(self):
        time.sleep(120)

blocked_in = sys.argv[1]
if blocked_in == "actor call":
    sleeper = Sleeper.remote()
    ray.get(sleeper.__ray_ready__.remote())
    refs = [sleeper.sleep.remote()]
else:
    refs = [slow.remote() for _ in range(2)]
try:
    print("blocking", flush=True)
    if blocked_in == "wait":
        ray.wait(refs, num_returns=2)
    else:
        ray.get(refs)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
print("still working:", ray.get(ray.put(21)) * 2, flush=True)
"""


@pytest.mark.parametrize("blocked_in", ["get", "wait", "actor call"])
def test_ctrl_c_raises_keyboard_interrupt_in_the_driver_and_nothing_else(tmp_path, blocked_in):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    proc = subprocess.Popen(
        [sys.executable, "-m", "raycompat", str(script), blocked_in],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=python_env(state_dir=tmp_path / "state"),
    )
    try:
        assert proc.stdout.readline() == "blocking\n"
        proc.send_signal(signal.SIGINT)  # lands in the try block: before the call or during it
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "blocking\n" + out, err)
    assert result.returncode == 0, describe(result)
    assert out.splitlines() == ["KeyboardInterrupt", "still working: 42"], describe(result)
    assert err == "", describe(result)


# Ctrl-C at any moment, many times over: the driver below loops over get() and wait() while the
# test sends it SIGINTs at random moments. Before Ctrl-C was held back during waits, one landing
# while a wait took a lock the event loop also takes left that lock taken: the session, then
# shutdown, hung.
HAMMERED = """
import os
import sys
import ray

ray.init(num_cpus=2, include_dashboard=False)

@ray.remote
def echo(x):
    return x

@ray.remote
class Echo:
    def echo(self, x):
        return x

actor = Echo.remote()
ray.get(actor.__ray_ready__.remote())
print("looping", flush=True)

def loop():
    rounds = 0
    while True:
        try:
            if os.path.exists(sys.argv[1]):
                return
            rounds += 1
            refs = [echo.remote(rounds) for _ in range(4)] + [actor.echo.remote(rounds)]
            if rounds % 2:
                ray.wait(refs, num_returns=len(refs))
            else:
                assert ray.get(refs) == [rounds] * 5
        except KeyboardInterrupt:
            pass

while True:  # a Ctrl-C can also land on the loop's jump back, outside the try block
    try:
        loop()
        break
    except KeyboardInterrupt:
        pass
print("still working:", ray.get(echo.remote(21)) * 2, ray.get(actor.echo.remote(42)), flush=True)
"""


def test_ctrl_c_at_random_moments_never_hangs_the_session_or_its_shutdown(tmp_path):
    script, stop = tmp_path / "driver.py", tmp_path / "stop"
    script.write_text(textwrap.dedent(HAMMERED))
    proc = subprocess.Popen(
        [sys.executable, "-m", "raycompat", str(script), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=python_env(state_dir=tmp_path / "state"),
    )
    pauses = random.Random(0)
    try:
        assert proc.stdout.readline() == "looping\n"
        for _ in range(60):
            time.sleep(pauses.uniform(0.002, 0.02))  # varies the moment; not a wait for an outcome
            proc.send_signal(signal.SIGINT)
        stop.touch()
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "looping\n" + out, err)
    assert result.returncode == 0, describe(result)
    assert out == "still working: 42 42\n", describe(result)


def test_ctrl_c_during_a_wait_is_held_back_to_the_next_safe_point():
    interrupts.hold()
    try:
        signal.raise_signal(signal.SIGINT)  # Python runs the handler as soon as this returns
        held = True
        with pytest.raises(KeyboardInterrupt):
            interrupts.deliver()
    finally:
        interrupts.release()
        interrupts.uninstall()
    assert held
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_held_back_reaches_the_programs_own_handler_and_the_wait_goes_on():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        interrupts.hold()
        try:
            signal.raise_signal(signal.SIGINT)
            assert seen == []
        finally:
            interrupts.release()  # the end of the wait hands it on
        assert seen == [signal.SIGINT]
        interrupts.uninstall()
        signal.raise_signal(signal.SIGINT)  # after shutdown: straight to the program's handler
        assert seen == [signal.SIGINT, signal.SIGINT]
    finally:
        interrupts.uninstall()
        signal.signal(signal.SIGINT, previous)
