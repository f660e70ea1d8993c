"""Run every benchmark workload on raycompat and on raw Dask (and on Ray if asked); print a table.

    python benchmarks/run.py                       # full run, a few minutes
    python benchmarks/run.py --quick               # fewer repetitions, no 1 GB put
    python benchmarks/run.py --ray-python /opt/rayenv/bin/python   # also real Ray
    python benchmarks/run.py --json out.json --repeat 3            # median of 3 fresh processes

Each backend runs in fresh processes: one for the main workloads (init first, shutdown last), one
for the driver-memory workload, whose peak RSS must not include the others, and one for the bulk
workloads (gathers of 20,000 tasks, 5,000 with --quick; get on up to 20,000 finished refs),
which leave neither their leftovers to the main workloads nor their time to the main process's
timeout. The workloads
are written once against Ray's API (ray_workloads.py, run with ``python -m raycompat`` and with
Ray's interpreter) and once as idiomatic raw Dask (dask_workloads.py). Ratios are raycompat over
the other backend in throughput terms: above 1 means raycompat is faster (or lighter).

Numbers are noisy on a small shared machine: compare ratios, use --repeat, and look at the load
average recorded in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _common  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    label: str  # formatted with the sizes
    unit: str
    better: str  # "higher" or "lower"
    kind: str  # task, actor, object, session, memory
    target: str = ""  # human-readable target from the issue
    group: str = "main"  # the workloads of a group share one fresh process per backend


WORKLOADS = [
    Workload("init", "init to first result", "s", "lower", "session", "≤ 1.0 s"),
    Workload("task_roundtrip", "sync task round trip: get(f.remote()) ×{roundtrip}", "tasks/s", "higher", "task", "≥ 300/s, ≥ 0.9× Dask"),
    Workload("tasks_small", "{tasks_small:,} no-op tasks, submit then get", "tasks/s", "higher", "task", "≥ 0.9× Dask"),
    Workload("tasks_large", "{tasks_large:,} no-op tasks, submit then get", "tasks/s", "higher", "task", "≥ 0.9× Dask"),
    Workload("gather_20000", "{gather:,} no-op tasks, submit then get(refs)", "tasks/s", "higher", "task", "≥ 0.9× Dask", group="bulk"),
    Workload("gather_20000_timeout", "{gather:,} no-op tasks, submit then get(refs, timeout=600)", "tasks/s", "higher", "task",
             "≥ 0.9× Dask", group="bulk"),
    Workload("chain", "chain of {chain} dependent tasks", "tasks/s", "higher", "task", "≥ 0.9× Dask"),
    Workload("small_put", "small put ×{small_put:,}", "puts/s", "higher", "object", "≥ 1.0× Ray"),
    Workload("small_get", "small get ×{small_put:,}", "gets/s", "higher", "object", "≥ 1.0× Ray"),
    Workload("get_cost_per_ref_1k", "get(refs, timeout=600) of {get_cost_1k:,} finished refs, per ref", "µs/ref", "lower", "object", group="bulk"),
    Workload("get_cost_per_ref_5k", "get(refs, timeout=600) of {get_cost_5k:,} finished refs, per ref", "µs/ref", "lower", "object", group="bulk"),
    Workload("get_cost_per_ref_20k", "get(refs, timeout=600) of {get_cost_20k:,} finished refs, per ref", "µs/ref", "lower", "object", group="bulk"),
    Workload("put_get_big", "put + get of a {big_mb} MB array", "MB/s", "higher", "object"),
    Workload("put_get_dataframe_100mb", "put + get of a {df_mb} MB DataFrame ({df_columns} float64 columns)", "MB/s", "higher", "object"),
    Workload("put_get_huge", "put + get of a {huge_mb} MB array", "MB/s", "higher", "object", "released after del"),
    Workload("ref_to_tasks", "one {big_mb} MB put ref passed to {ref_tasks} tasks", "s", "lower", "task", "≥ 0.9× Dask"),
    Workload("actor_sync", "sync actor calls ×{actor_sync}", "calls/s", "higher", "actor", "≥ 0.9× Dask"),
    Workload("actor_pipelined", "{actor_pipelined:,} pipelined actor calls", "calls/s", "higher", "actor", "≥ 0.9× Dask"),
    Workload("wait_drain_ready", "wait(num_returns=1) drains {wait_refs:,} finished refs", "waits/s", "higher", "task", "≥ 1,000/s"),
    Workload("wait_drain_live", "wait(num_returns=1) drains {wait_refs:,} refs as tasks finish", "waits/s", "higher", "task", "≥ 0.9× Dask"),
    Workload("cpu_speedup", "{cpu_tasks} CPU tasks of {cpu_seconds} s vs serial", "speed-up", "higher", "task", "≥ 1.85×"),
    Workload("quicksort_4m", "quicksort of {quicksort:,} float64 by value, a task per half, 4 deep", "s", "lower", "task", "≥ 0.9× Dask"),
    Workload("rss_tasks", "{rss_tasks:,} tiny tasks: driver peak RSS", "MB", "lower", "memory", "≤ 300 MB", group="rss"),
    Workload("shutdown", "shutdown", "s", "lower", "session"),
]
BY_NAME = {w.name: w for w in WORKLOADS}


# -- running the backends ------------------------------------------------------------------------


def backend_commands(args: argparse.Namespace) -> dict[str, list[str]]:
    ray_file = os.path.join(HERE, "ray_workloads.py")
    dask_file = os.path.join(HERE, "dask_workloads.py")
    commands = {
        "raycompat": [sys.executable, "-m", "raycompat", ray_file],
        "dask": [sys.executable, dask_file, "--cluster", args.dask_cluster],
    }
    if args.ray_python:
        commands["ray"] = [args.ray_python, ray_file]
    return commands


def run_group(
    backend: str, command: list[str], names: list[str], args: argparse.Namespace, log_dir: str, tag: str
) -> dict[str, Any]:
    """Run one backend's workloads ``names`` in a fresh process; return its JSON."""
    out_json = os.path.join(log_dir, f"{backend}-{tag}.json")
    log = os.path.join(log_dir, f"{backend}-{tag}.log")
    full = [
        *command,
        "--size", args.size,
        "--num-cpus", str(args.num_cpus),
        "--cpu-iterations", str(args.cpu_iterations),
        "--only", ",".join(names),
        "--json", out_json,
    ]
    print(f"[{time.strftime('%H:%M:%S')}] {backend} {tag}: {len(names)} workloads (log: {log})", file=sys.stderr, flush=True)
    with open(log, "w") as f:
        f.write(shlex.join(full) + "\n")
        f.flush()
        proc = subprocess.Popen(full, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group: it and its workers
            proc.wait()
            code = f"timed out after {args.timeout} s"
    try:
        with open(out_json) as f:
            data: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        data = {"info": {"backend": backend}, "results": {}}
    if code != 0:
        for name in names:
            data["results"].setdefault(name, {"error": f"the {backend} process exited with {code}; see {log}"})
    return data


def collect(args: argparse.Namespace, log_dir: str) -> tuple[dict[str, Any], dict[str, dict[str, list[dict[str, Any]]]]]:
    """Run every backend ``--repeat`` times, rotating the order; return infos and all results."""
    commands = backend_commands(args)
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only.split(",")]
    groups = {g: [w.name for w in chosen if w.group == g] for g in dict.fromkeys(w.group for w in WORKLOADS)}
    if args.size == "tiny":  # the smoke test: one process per backend (its peak RSS then means nothing)
        groups = {"main": [w.name for w in chosen]}
    infos: dict[str, Any] = {}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {b: {} for b in commands}
    order = list(commands)
    for rep in range(args.repeat):
        for backend in order[rep % len(order):] + order[: rep % len(order)]:
            for group, names in groups.items():
                if not names:
                    continue
                data = run_group(backend, commands[backend], names, args, log_dir, f"{group}-{rep}")
                infos[backend] = data.get("info", {})
                for name, result in data["results"].items():
                    runs[backend].setdefault(name, []).append(result)
    return infos, runs


# -- summarising ---------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The median value over repeats, the details of the run closest to it, or why there is none."""
    if not runs:
        return {"missing": "not run"}
    good = [r for r in runs if isinstance(r.get("value"), (int, float))]
    if not good:
        first = runs[0]
        return {k: first[k] for k in ("skipped", "error") if k in first} or {"error": "no value"}
    value = statistics.median(r["value"] for r in good)
    closest = min(good, key=lambda r: abs(r["value"] - value))
    return {"value": value, "values": [r["value"] for r in good], "details": closest}


def ratio(workload: Workload, ours: dict[str, Any], other: dict[str, Any]) -> float | None:
    """raycompat relative to ``other``, in throughput terms: above 1 is better for raycompat."""
    a, b = ours.get("value"), other.get("value")
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or a <= 0 or b <= 0:
        return None
    return a / b if workload.better == "higher" else b / a


def target_met(w: Workload, row: dict[str, Any]) -> bool | None:
    """Whether raycompat meets the issue's target for this workload (None: no target, or no data)."""
    rc = row["raycompat"].get("value")
    if rc is None:
        return None
    checks: list[bool | None] = []
    if w.kind in ("task", "actor") and w.name not in ("wait_drain_ready", "cpu_speedup"):
        checks.append(None if row["ratio_dask"] is None else row["ratio_dask"] >= 0.9)
    if w.name == "init":
        checks.append(rc <= 1.0)
    if w.name == "task_roundtrip":
        checks.append(rc >= 300)
    if w.name == "wait_drain_ready":
        checks.append(rc >= 1000)
    if w.name == "cpu_speedup":
        checks.append(rc >= 1.85)
    if w.name == "rss_tasks":
        checks.append(rc <= 300)
    if w.name in ("small_put", "small_get"):
        checks.append(None if row.get("ratio_ray") is None else row["ratio_ray"] >= 1.0)
    if w.name == "put_get_huge":
        checks.append(bool(row["raycompat"]["details"].get("released")))
    known = [c for c in checks if c is not None]
    if not known:
        return None
    return all(known)


def build_rows(runs: dict[str, dict[str, list[dict[str, Any]]]], sizes: dict[str, Any], only: str) -> list[dict[str, Any]]:
    rows = []
    for w in WORKLOADS:
        if only and w.name not in only.split(","):
            continue
        row: dict[str, Any] = {
            "name": w.name,
            "label": w.label.format(**{**sizes, "huge_mb": sizes["huge_mb"] or _common.SIZES["full"]["huge_mb"]}),
            "unit": w.unit,
            "better": w.better,
            "kind": w.kind,
            "target": w.target,
        }
        for backend in runs:
            row[backend] = summarise(runs[backend].get(w.name))
        row["ratio_dask"] = ratio(w, row["raycompat"], row["dask"]) if "dask" in row else None
        if "ray" in runs:
            row["ratio_ray"] = ratio(w, row["raycompat"], row["ray"])
        skipped = [f"{b}: {row[b]['skipped']}" for b in runs if "skipped" in row[b]]
        errors = [f"{b}: {row[b]['error']}" for b in runs if "error" in row[b]]
        if skipped:
            row["skipped"] = "; ".join(skipped)
        if errors:
            row["error"] = "; ".join(errors)
        row["target_met"] = target_met(w, row)
        rows.append(row)
    return rows


def fmt(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(result: dict[str, Any]) -> str:
    if "value" in result:
        return fmt(result["value"])
    if "skipped" in result:
        return "skipped"
    if "error" in result:
        return "error"
    return "–"


def table(rows: list[dict[str, Any]], backends: list[str]) -> str:
    """A Markdown table: readable in a terminal, pasteable into docs/performance.md."""
    head = ["workload", "unit", *backends, "rc/Dask"]
    if "ray" in backends:
        head.append("rc/Ray")
    head += ["target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for row in rows:
        ratios = [fmt(row["ratio_dask"]) + ("×" if row["ratio_dask"] else "")]
        if "ray" in backends:
            ratios.append(fmt(row.get("ratio_ray")) + ("×" if row.get("ratio_ray") else ""))
        met = {True: "yes", False: "**no**", None: "–"}[row["target_met"]]
        unit = row["unit"] + (" ↓" if row["better"] == "lower" else "")
        cells = [row["label"], unit, *(cell(row[b]) for b in backends), *ratios, row["target"] or "–", met]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {row['name']}: {row.get('skipped') or ''} {row.get('error') or ''}".rstrip() for row in rows if row.get("skipped") or row.get("error")]
    huge = next((r for r in rows if r["name"] == "put_get_huge" and "details" in r["raycompat"]), None)
    if huge:
        d = huge["raycompat"]["details"]
        notes.append(f"- put_get_huge: raycompat held {fmt(d.get('held_mb'))} MB more than before the put; released after del: {d.get('released')} (within {fmt(d.get('release_s'))} s)")
    return "\n".join(lines + ([""] + notes if notes else []))


# -- the machine ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "git": _git_state(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def _git_state() -> str:
    """The commit measured, with "+dirty" when the work tree has uncommitted changes."""
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions inside each workload, no 1 GB put")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for the smoke test only: the numbers mean nothing")
    parser.add_argument("--ray-python", default="", help="a Python with real Ray installed: also run the Ray-API workloads there")
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"), help="where to write the results (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes per backend; the table shows medians")
    parser.add_argument("--num-cpus", type=int, default=2, help="worker processes (CPU slots) of each cluster")
    parser.add_argument("--dask-cluster", choices=["same", "localcluster"], default="same",
                        help="raw Dask's cluster: 'same' shape as raycompat's embedded one (default), or Dask's LocalCluster")
    parser.add_argument("--only", default="", help="comma-separated workload names: " + ",".join(BY_NAME))
    parser.add_argument("--timeout", type=float, default=0, help="seconds per backend process (default: by size)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the per-process logs and JSON")
    args = parser.parse_args(argv)
    unknown = [n for n in args.only.split(",") if n and n not in BY_NAME]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(BY_NAME)}")
    args.size = "tiny" if args.tiny else "quick" if args.quick else "full"
    args.timeout = args.timeout or {"tiny": 60, "quick": 420, "full": 600}[args.size]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    sizes = dict(_common.SIZES[args.size])
    sizes["num_cpus"] = args.num_cpus
    args.cpu_iterations = _common.busy_iterations(sizes["cpu_seconds"])
    info = machine()
    log_dir = tempfile.mkdtemp(prefix="raycompat-bench-")
    infos, runs = collect(args, log_dir)
    info["loadavg_end"] = os.getloadavg()
    rows = build_rows(runs, sizes, args.only)
    backends = list(runs)
    report = {
        "command": shlex.join(["python", os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "size": args.size,
        "repeat": args.repeat,
        "num_cpus": args.num_cpus,
        "cpu_iterations": args.cpu_iterations,
        "sizes": sizes,
        "machine": info,
        "backends": infos,
        "dask_cluster": args.dask_cluster,
        "seconds": round(time.perf_counter() - started, 1),
        "log_dir": log_dir,
        "workloads": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    text = table(rows, backends)
    print(text)
    print()
    for backend in backends:
        print(f"{backend}: {infos.get(backend, {}).get('version', '?')} — {infos.get(backend, {}).get('cluster', '')}")
    print(
        f"raycompat at {info['git']}; machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gb']} GB; load average "
        f"{info['loadavg_start'][0]:.2f} → {info['loadavg_end'][0]:.2f}; {report['seconds']} s in all"
    )
    print(f"ratios: raycompat / other in throughput terms (> 1: raycompat faster or lighter). JSON: {args.json}")
    if not args.keep_logs and all("error" not in r for r in rows):
        import shutil

        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        print(f"logs: {log_dir}")


if __name__ == "__main__":
    main()
