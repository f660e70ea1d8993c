"""Ctrl-C in the driver: a real SIGINT to a driver blocked in get, wait or an actor call raises
KeyboardInterrupt there, as in Ray, prints nothing else, and leaves the session usable."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import SUBPROCESS_TIMEOUT, describe, python_env

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
