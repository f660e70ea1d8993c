"""`raycompat start / stop / status`: Ray's cluster commands, backed by Dask processes.

`start --head` starts a background node process (see ``_dask/process/node_main.py``) that runs the
Dask scheduler, its dashboard and this machine's worker, and writes the address file that
``ray.init(address="auto")`` reads. `start --address` starts only the worker part. Every node
started here is recorded in the private state directory (``RAYCOMPAT_STATE_DIR``, by default
``$TMPDIR/raycompat-<uid>``, mode 0700), so `stop` stops exactly those processes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import psutil
from dask.system import CPU_COUNT

from . import _cluster_info, _cluster_state, _session
from ._dask import tls
from ._dask.process.supervisor import stop as stop_processes

DEFAULT_PORT = 8786
DEFAULT_DASHBOARD_PORT = 8265
START_TIMEOUT = 90.0
NODE_MAIN = "raycompat._dask.process.node_main"  # the module a node process runs
WORKER_MAIN = "raycompat._dask.worker.main"


class CommandError(Exception):
    """A user-facing failure: printed as ``raycompat <command>: <message>``, exit status 1."""


# -- argument parsing ---------------------------------------------------------------------------


def _parser(command: str) -> argparse.ArgumentParser:
    if command == "start":
        p = argparse.ArgumentParser(
            prog="raycompat start",
            description=(
                "Start a node of a cluster in the background, as `ray start` does, with Dask "
                "processes: --head starts the scheduler (and dashboard) and this machine's "
                "worker; --address HOST:PORT adds this machine's worker to a running cluster. "
                "Then ray.init(address='auto') on this machine connects to it."
            ),
            epilog=(
                "examples:\n"
                "  raycompat start --head --num-cpus 4\n"
                "  raycompat start --address 10.0.0.1:8786 --node-ip-address 10.0.0.2 --tls\n"
                "  raycompat stop"
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        role = p.add_mutually_exclusive_group(required=True)
        role.add_argument("--head", action="store_true", help="start the head node: the Dask scheduler, its dashboard and a worker")
        role.add_argument("--address", metavar="HOST:PORT", help="join the cluster whose scheduler is at HOST:PORT")
        p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"scheduler port of the head node (default {DEFAULT_PORT}; 0 picks a free one)")
        p.add_argument(
            "--node-ip-address",
            "--host",
            dest="host",
            metavar="IP",
            help="address this node listens on (default 127.0.0.1 for --head: this machine only; "
            "give the machine's IP, or 0.0.0.0, to let other machines join)",
        )
        p.add_argument("--num-cpus", type=float, default=None, help="CPUs of this node: worker threads and the CPU resource (default: all cores)")
        p.add_argument("--num-gpus", type=float, default=0, help="GPUs this node advertises (default 0)")
        p.add_argument("--memory", type=int, default=None, help="bytes of memory this node advertises for tasks' memory= (default: 70%% of available)")
        p.add_argument("--resources", default="{}", metavar="JSON", help="custom resources as JSON, e.g. '{\"disk\": 2}'")
        p.add_argument("--dashboard-port", type=int, default=None, help=f"port of the Dask dashboard (default {DEFAULT_DASHBOARD_PORT}, or a free one if taken; 0 picks a free one)")
        p.add_argument("--include-dashboard", choices=["true", "false"], default="true", help="serve the dashboard (default true)")
        p.add_argument("--tls", action="store_true", help="require mutual TLS: --head creates certificates in the state directory; joining nodes need a copy (see --tls-dir)")
        p.add_argument("--tls-dir", metavar="DIR", help="directory of ca.pem, cert.pem and key.pem (default: <state dir>/tls)")
        p.add_argument("--block", action="store_true", help="stay in the foreground until Ctrl-C, then stop the node")
        return p
    if command == "stop":
        p = argparse.ArgumentParser(
            prog="raycompat stop",
            description="Stop every node that `raycompat start` started on this machine (scheduler, dashboard, workers).",
        )
        p.add_argument("--grace-period", type=float, default=10, help="seconds to wait before killing (default 10)")
        return p
    p = argparse.ArgumentParser(
        prog="raycompat status",
        description="Show the nodes of the cluster, its resources in use and in total, and the dashboard URL.",
    )
    p.add_argument("--address", metavar="HOST:PORT", help="scheduler to ask (default: the cluster started on this machine, or RAY_ADDRESS)")
    return p


def _parse_resources(text: str) -> dict[str, float]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(
            f"--resources {text!r} is not valid JSON ({exc}). Give a JSON object, e.g. --resources '{{\"disk\": 2}}'."
        ) from None
    if not isinstance(value, dict):
        raise CommandError(f"--resources {text!r} is not a JSON object. Give one, e.g. --resources '{{\"disk\": 2}}'.")
    for name, quantity in value.items():
        if name in ("CPU", "GPU"):
            raise CommandError(
                f"Use --num-{name.lower()}s instead of 'resources' to specify {name} resources, "
                f"e.g. --num-{name.lower()}s {quantity} instead of --resources '{{\"{name}\": {quantity}}}'."
            )
        if name == "memory":
            raise CommandError(f"Use --memory {quantity} instead of putting 'memory' in --resources.")
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or quantity < 0:
            raise CommandError(f"--resources: the quantity of {name!r} must be a non-negative number, got {quantity!r}.")
    return {str(k): float(v) for k, v in value.items()}


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _split_address(address: str) -> tuple[str, str, int]:
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--address {address!r} is not HOST:PORT. Give the scheduler's address, e.g. --address 10.0.0.1:{DEFAULT_PORT}.")
    return scheme or "tcp", host.strip("[]"), int(port)


def _reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _local_ip_towards(host: str) -> str:
    if _is_loopback(host):
        return host if host != "localhost" else "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _default_memory() -> int:
    return int(psutil.virtual_memory().available * 0.7)


# -- start --------------------------------------------------------------------------------------


def start(args: argparse.Namespace) -> None:
    resources = _parse_resources(args.resources)
    for name in ("num_cpus", "num_gpus", "memory"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise CommandError(f"--{name.replace('_', '-')} must be 0 or more, got {value!r}.")
    num_cpus = float(CPU_COUNT) if args.num_cpus is None else args.num_cpus
    host, address, dashboard_port = _head_place(args) if args.head else _worker_place(args)
    tls_paths = _tls_paths(args, host)
    config = {
        "head": bool(args.head),
        "address": address,
        "host": host,
        "port": args.port,
        "dashboard_port": dashboard_port,
        "num_cpus": num_cpus,
        "num_gpus": args.num_gpus,
        "memory": _default_memory() if args.memory is None else args.memory,
        "resources": resources,
        "tls": tls_paths,
    }
    proc, ready, log_path = _launch_node(config, detach=not args.block)
    record = {
        "pid": proc.pid,
        "head": bool(args.head),
        "address": ready["address"],
        "dashboard_url": ready.get("dashboard_url"),
        "worker_pids": ready.get("worker_pids", []),
        "log": log_path,
        "tls": tls_paths,
    }
    record_path = os.path.join(_cluster_state.nodes_dir(), f"node-{proc.pid}.json")
    _cluster_state.write_json(record_path, record)
    if args.head:
        entry: dict[str, Any] = {"address": ready["address"], "dashboard_url": ready.get("dashboard_url")}
        if tls_paths:
            entry["tls"] = tls_paths
        _cluster_state.write_json(_cluster_state.address_file(), entry)
    _print_started(args, record, host, num_cpus)
    if args.block:
        _block(proc, record_path)


def _head_place(args: argparse.Namespace) -> tuple[str, None, int | None]:
    """Where the head node listens: (host, no address to join, dashboard port or None)."""
    host = args.host or "127.0.0.1"
    if args.port and not _port_free(host, args.port):
        raise CommandError(
            f"Port {args.port} on {host} is already in use (another cluster, or `raycompat start` "
            "run twice?). Check with `raycompat status`, stop it with `raycompat stop`, or "
            "pick another port with --port."
        )
    if args.include_dashboard != "true":
        return host, None, None
    dashboard_port = DEFAULT_DASHBOARD_PORT if args.dashboard_port is None else args.dashboard_port
    if dashboard_port and not _port_free(host, dashboard_port):
        if args.dashboard_port is not None:
            raise CommandError(
                f"Dashboard port {dashboard_port} on {host} is already in use. Pick another "
                "with --dashboard-port, or --dashboard-port 0 for any free port."
            )
        dashboard_port = 0
    return host, None, dashboard_port


def _worker_place(args: argparse.Namespace) -> tuple[str, str, None]:
    """Where a worker node runs and whom it joins: (host, scheduler address, no dashboard)."""
    scheme, target, port = _split_address(args.address)
    if scheme not in ("tcp", "tls"):
        raise CommandError(f"--address {args.address!r}: raycompat start joins tcp:// or tls:// schedulers only.")
    if not _reachable(target, port):
        raise CommandError(
            f"No cluster answers at {target}:{port}. Start the head node first with "
            "`raycompat start --head` on that machine (or `dask scheduler`), and check the "
            "address and the firewall."
        )
    host = args.host or _local_ip_towards(target)
    return host, f"{'tls' if args.tls else scheme}://{target}:{port}", None


def _tls_dir(args: argparse.Namespace) -> str:
    return args.tls_dir or os.path.join(_cluster_state.state_dir(create=True), "tls")


def _tls_paths(args: argparse.Namespace, host: str) -> dict[str, str] | None:
    """The TLS files of the cluster: made on the head node, found on the others."""
    if not args.tls:
        return None
    directory = _tls_dir(args)
    if args.head:
        return tls.generate(directory, hosts=[host] if host not in ("0.0.0.0", "::") else [])
    if tls.exists(directory):
        return tls.files(directory)
    raise CommandError(
        f"--tls needs the cluster's certificates in {directory}, and they are not there. "
        "Copy the head node's TLS directory (shown by `raycompat start --head --tls`) to "
        "this machine and pass it with --tls-dir."
    )


def _launch_node(config: dict[str, Any], detach: bool) -> tuple[subprocess.Popen[bytes], dict[str, Any], str]:
    """Start the node process with ``config``; return it once ready, with its report and log."""
    nodes_dir = _cluster_state.nodes_dir()
    tag = uuid.uuid4().hex[:8]
    config = {**config, "ready_file": os.path.join(nodes_dir, f"ready-{tag}.json")}
    config_path = os.path.join(nodes_dir, f"config-{tag}.json")
    _cluster_state.write_json(config_path, config)
    log_path = os.path.join(nodes_dir, f"log-{tag}.txt")
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", NODE_MAIN, config_path],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=detach,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    ready = _wait_ready(proc, config["ready_file"], log_path)
    os.unlink(config_path)
    return proc, ready, log_path


def _wait_ready(proc: subprocess.Popen[bytes], ready_file: str, log_path: str) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if os.path.exists(ready_file):
            with open(ready_file) as f:
                ready: dict[str, Any] = json.load(f)
            os.unlink(ready_file)
            if "error" in ready:
                proc.wait(timeout=10)
                raise CommandError(f"The node did not start: {ready['error']}. See the log: {log_path}")
            return ready
        if proc.poll() is not None:
            raise CommandError(f"The node process exited with code {proc.returncode} while starting. See the log: {log_path}\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            stop_processes([proc], 5, terminate=True)
            raise CommandError(f"The node did not start within {START_TIMEOUT:.0f} s. See the log: {log_path}")
        time.sleep(0.1)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _print_started(args: argparse.Namespace, record: dict[str, Any], host: str, num_cpus: float) -> None:
    out = sys.stdout.write
    address = record["address"]
    bare = address.split("://", 1)[-1]
    tls = " --tls --tls-dir DIR" if record.get("tls") else ""
    if args.head:
        out(f"Started the raycompat head node: a Dask scheduler at {address} and {num_cpus:g} CPU(s) of workers.\n\n")
        out("To add another machine to this cluster, run on it:\n")
        out(f"  raycompat start --address='{bare}'{tls}\n")
        if not record.get("tls"):
            n = max(1, round(num_cpus))
            out(f"or with plain Dask:\n  dask worker {address} --nworkers 1 --nthreads {n} --resources \"CPU={n}\"\n")
        out("\nTo connect from Python on this machine:\n  import ray; ray.init(address='auto')\n")
        if not record.get("tls"):
            out(f"and from anywhere:\n  ray.init(address='{address}')\n")
        else:
            out(f"\nTLS files (copy this directory, 0700, to other machines): {os.path.dirname(record['tls']['cert'])}\n")
        if record.get("dashboard_url"):
            out(f"\nDashboard: {record['dashboard_url']}\n")
    else:
        out(f"Started a raycompat node on {host} with {num_cpus:g} CPU(s); it joined the cluster at {address}.\n")
    out("\nTo stop the processes started on this machine: raycompat stop\n")
    if not _is_loopback(host) and not record.get("tls"):
        sys.stderr.write(
            f"WARNING: this node listens on {host} without TLS: anyone who can reach it can run code "
            "on this machine. Restart it with --tls, or keep it on 127.0.0.1 (the default) and use "
            "an SSH tunnel.\n"
        )
    sys.stdout.flush()


def _block(proc: subprocess.Popen[bytes], record_path: str) -> None:
    sys.stdout.write("--block: running in the foreground; press Ctrl-C to stop.\n")
    sys.stdout.flush()
    try:
        proc.wait()
    except KeyboardInterrupt:
        stop_processes([proc], 10, terminate=True)
    finally:
        _cluster_state.forget(record_path)


# -- stop ---------------------------------------------------------------------------------------


def stop(args: argparse.Namespace) -> None:
    records = _cluster_state.records()
    if not records:
        sys.stdout.write("No raycompat nodes were started on this machine; nothing to stop.\n")
        return
    stopped = 0
    # Workers first, the head last: its scheduler then closes with no one left to tell.
    for path, record in sorted(records, key=lambda item: item[1].get("head", False)):
        node = _cluster_state.running(record["pid"], NODE_MAIN)
        if node is not None:
            stop_processes([node], args.grace_period, terminate=True)
            stopped += 1
        workers = (_cluster_state.running(pid, WORKER_MAIN) for pid in record.get("worker_pids", []))
        stop_processes([w for w in workers if w is not None], 2, terminate=True)
        _cluster_state.forget(path)
    sys.stdout.write(f"Stopped {stopped} raycompat node(s) on this machine.\n")


# -- status -------------------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{n:.0f}B"
        n /= 1024
    return f"{n}"


def status(args: argparse.Namespace) -> None:
    address = args.address
    if address is None and not os.environ.get("RAY_ADDRESS"):
        if not os.path.exists(_cluster_state.address_file()):
            raise CommandError(
                "No cluster was started on this machine. Start one with `raycompat start --head`, "
                "or pass the scheduler's address: raycompat status --address HOST:PORT."
            )
    try:
        ctx = _session.init(address=address or "auto", log_to_driver=False)
    except ConnectionError as exc:
        raise CommandError(f"{exc}") from None
    try:
        nodes = _cluster_info.nodes()
        total = _cluster_info.cluster_resources()
        free = _cluster_info.available_resources()
        out = sys.stdout.write
        out(f"======== Cluster status: {ctx.address_info['address']} ========\n")
        out(f"Nodes ({len(nodes)}):\n")
        for node in nodes:
            role = " (head)" if node["IsHeadNode"] else ""
            workers = len(node["DaskWorkers"])
            out(f" {node['NodeManagerAddress']}{role}  node_id {node['NodeID'][:12]}  {workers} Dask worker(s)\n")
        out("\nResources\n" + "-" * 60 + "\nUsage:\n")
        for name in sorted(k for k in total if not k.startswith("node:")):
            used = total[name] - free.get(name, 0.0)
            if name == "memory":
                out(f" {_size(used)}/{_size(total[name])} memory\n")
            else:
                out(f" {used:g}/{total[name]:g} {name}\n")
        out(f"\nDashboard: {ctx.dashboard_url or '(none)'}\n")
    finally:
        _session.shutdown()


# -- entry --------------------------------------------------------------------------------------


def main(command: str, argv: list[str]) -> None:
    args = _parser(command).parse_args(argv)
    try:
        {"start": start, "stop": stop, "status": status}[command](args)
    except (CommandError, _cluster_state.UnsafeStateDir) as exc:
        sys.stderr.write(f"raycompat {command}: {exc}\n")
        raise SystemExit(1) from None
