"""Worker output: print() and logging in tasks reach the driver, prefixed ``(name pid=N)``.

Each test runs a driver in a fresh interpreter that calls shutdown() right after get(), so the
output must arrive before the driver ends.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from conftest import describe, run_file

TASKS = """
    import logging
    import os
    import sys
    import ray

    ray.init(num_cpus=2, include_dashboard=False{extra})

    @ray.remote
    def hello(x):
        print("hello from the task", x)
        print("line one\\nline two")
        return os.getpid()

    @ray.remote
    def warn():
        print("to stderr", file=sys.stderr)
        logging.getLogger("user").warning("careful: %s", "logged")
        return os.getpid()

    @ray.remote
    def outer():
        return ray.get(hello.remote("nested"))

    @ray.remote
    def fails():
        raise ValueError("expected failure")

    try:
        ray.get(fails.remote())
    except ValueError:
        pass
    pids = ray.get([hello.remote(1), warn.remote()])
    named = ray.get(hello.options(name="custom_name").remote(2))
    nested = ray.get(outer.remote())
    print("PIDS", pids[0], pids[1], named, nested, os.getpid())
    ray.shutdown()
"""


@pytest.fixture(scope="module")
def run_tasks(tmp_path_factory):
    """Run the TASKS driver once per variant (``extra`` init arguments) for the whole module."""
    done = {}

    def run(extra=""):
        if extra not in done:
            folder = tmp_path_factory.mktemp("output")
            script = folder / "script.py"
            script.write_text(textwrap.dedent(TASKS.format(extra=extra)))
            done[extra] = run_file(script, cwd=folder)
        return done[extra]

    return run


def _pids(stdout):
    match = re.search(r"^PIDS (\d+) (\d+) (\d+) (\d+) (\d+)$", stdout, re.MULTILINE)
    assert match, stdout
    return [int(p) for p in match.groups()]


def test_print_in_a_task_reaches_driver_stdout_with_its_prefix(run_tasks):
    proc = run_tasks()

    assert proc.returncode == 0, describe(proc)
    hello_pid, _, named_pid, nested_pid, driver_pid = _pids(proc.stdout)
    assert hello_pid != driver_pid
    out = proc.stdout.splitlines()
    assert f"(hello pid={hello_pid}) hello from the task 1" in out
    assert f"(hello pid={hello_pid}) line one" in out
    assert f"(hello pid={hello_pid}) line two" in out


def test_options_name_and_nested_tasks_set_the_prefix(run_tasks):
    proc = run_tasks()

    assert proc.returncode == 0, describe(proc)
    _, _, named_pid, nested_pid, _ = _pids(proc.stdout)
    out = proc.stdout.splitlines()
    assert f"(custom_name pid={named_pid}) hello from the task 2" in out
    assert f"(hello pid={nested_pid}) hello from the task nested" in out


def test_stderr_and_logging_in_a_task_reach_driver_stderr_with_its_prefix(run_tasks):
    proc = run_tasks()

    assert proc.returncode == 0, describe(proc)
    _, warn_pid, _, _, _ = _pids(proc.stdout)
    err = proc.stderr.splitlines()
    assert f"(warn pid={warn_pid}) to stderr" in err, proc.stderr
    assert f"(warn pid={warn_pid}) careful: logged" in err, proc.stderr
    assert "to stderr" not in proc.stdout


def test_log_to_driver_false_keeps_task_output_out_of_the_driver(run_tasks):
    proc = run_tasks(", log_to_driver=False")

    assert proc.returncode == 0, describe(proc)
    assert "hello from the task" not in proc.stdout + proc.stderr
    assert "careful" not in proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("PIDS ")


def test_a_failed_task_caught_by_the_driver_prints_no_dask_report(run_tasks):
    proc = run_tasks()

    assert proc.returncode == 0, describe(proc)
    assert "Compute Failed" not in proc.stderr
    assert "expected failure" not in proc.stdout + proc.stderr


def test_every_line_printed_before_shutdown_reaches_the_driver_and_nothing_of_dask_does(run_python):
    # Ten sessions in one driver, each printing from tasks and an actor just before shutdown():
    # the lines are still on their way through the scheduler when shutdown() begins.
    result = run_python(
        """
        import ray

        @ray.remote
        def say(session, i):
            print(f"task {session}.{i}")

        @ray.remote
        class Speaker:
            def say(self, session):
                print(f"actor {session}")

        for session in range(10):
            ray.init(num_cpus=2, include_dashboard=False)
            speaker = Speaker.remote()
            ray.get([say.remote(session, i) for i in range(3)] + [speaker.say.remote(session)])
            ray.shutdown()
        """
    )
    assert result.returncode == 0, describe(result)
    lines = sorted(re.sub(r"^\((\w+) pid=\d+\) ", "", line) for line in result.stdout.splitlines())
    expected = sorted([f"task {s}.{i}" for s in range(10) for i in range(3)] + [f"actor {s}" for s in range(10)])
    assert lines == expected, describe(result)
    assert result.stderr == "", describe(result)
