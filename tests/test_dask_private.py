"""Every private name of Dask and cloudpickle that raycompat uses (``_dask/dask_private.py``) still
exists, has the shape we use, and behaves as we rely on; so a Dask upgrade fails here, loudly,
instead of turning a feature silently off.

Scheduler-side checks run on an in-process ``LocalCluster`` whose Scheduler object the test can
reach; worker-side checks run in the shared cluster's worker processes.
"""

from __future__ import annotations

import inspect
import pickle
import threading
import time
import urllib.request
import uuid

import cloudpickle
import dask
import pytest
from distributed import Client, Future, LocalCluster, Scheduler, Worker, get_worker
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.diagnostics.task_stream import TaskStreamPlugin, rectangles
from distributed.scheduler import TaskState

from raycompat._dask import dask_private
from raycompat._dask.scheduler import queueing
from raycompat._dask.protocol import CRASHES
from raycompat._dask.scheduler.actor_registry import ActorRegistry
from raycompat._dask.scheduler.generators import GeneratorMailbox
from raycompat._dask.scheduler.keys import KeyLedger
from raycompat._dask.scheduler.placement import PlacementTable

# No dashboard, and Dask's HTTP server on a free port.
NO_DASHBOARD = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": ":0"}}
EXTENSIONS = (ActorRegistry, GeneratorMailbox, KeyLedger, PlacementTable)

# Gates for tasks of the in-process clusters: their threads are this process's threads.
GATES: dict[str, threading.Event] = {}


def _gate() -> str:
    name = uuid.uuid4().hex
    GATES[name] = threading.Event()
    return name


def _blocked(name: str) -> str:
    GATES[name].wait(60)
    return name


def _inc(x: int) -> int:
    return x + 1


def _own_annotations(_dependency: object) -> dict:
    key = dask_private.running_task_key()
    return dict(get_worker().state.tasks[key].annotations or {})


def _own_key() -> str | None:
    return dask_private.running_task_key()


def _state(scheduler: Scheduler, key: str) -> str | None:
    ts = scheduler.tasks.get(key)
    return None if ts is None else ts.state


def _until(condition, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds: state changes in the scheduler are asynchronous."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the scheduler did not reach the expected state"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def local():
    """One in-process scheduler and worker (one thread): (cluster, scheduler, worker, client)."""
    # One task per thread, as on raycompat's schedulers (settings.SCHEDULER; Dask: 1.1).
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD)
    with cluster, Client(cluster, set_as_default=False) as client:
        try:
            yield cluster, cluster.scheduler, cluster.workers[0], client
        finally:
            _open_all_gates()


def _open_all_gates() -> None:
    """Let every blocked task end, so that a cluster closes at once even after a failure."""
    for event in GATES.values():
        event.set()


def _in_loop(cluster: LocalCluster, fn, *args):
    """Run ``fn(*args)`` on the cluster's event loop, where the scheduler's code runs."""

    async def call():
        return fn(*args)

    return cluster.sync(call)


# -- the client and the worker -------------------------------------------------------------------


def test_running_task_key_reads_thread_state(local):
    from distributed.worker import thread_state  # noqa: F401 - the import itself is checked

    _, _, _, client = local
    future = client.submit(_own_key, pure=False)
    assert future.result(timeout=30) == future.key


def test_worker_client_is_worker_get_client(dask_client):
    assert "timeout" in inspect.signature(Worker._get_client).parameters

    def address_seen_by_the_worker_client() -> str:
        return str(dask_private.worker_client(get_worker(), timeout=10).scheduler.address)

    future = dask_client.submit(address_seen_by_the_worker_client, pure=False)
    assert future.result(timeout=60) == dask_client.scheduler.address


def test_future_client_is_the_client_the_future_was_made_with(local):
    _, _, _, client = local
    future = Future(f"unbound-{uuid.uuid4().hex}", client)
    assert dask_private.future_client(future) is client is future.client

    class Holder:  # what clients_of_refs reads of an ObjectRef
        _future = future

    assert dask_private.clients_of_refs([Holder()]) == {client}


def test_future_finished_awaits_future_state_wait(local):
    _, _, _, client = local
    future = client.submit(_inc, 1, pure=False)
    assert inspect.iscoroutinefunction(type(future._state).wait)
    client.sync(dask_private.future_finished, future)
    assert future.done() and future.result() == 2


def test_cancel_reason_reads_the_cancelled_state(local):
    _, _, _, client = local
    gate = _gate()
    future = client.submit(_blocked, gate, pure=False)
    client.cancel([future], reason="placement group removed")
    _until(lambda: future.status == "cancelled")
    assert dask_private.cancel_reason(future) == "placement group removed"
    GATES[gate].set()


def test_client_batching_interval_is_settable(local):
    _, _, _, client = local
    assert client.scheduler_comm.interval > dask_private.STREAM_INTERVAL  # Dask's default
    dask_private.shorten_client_batching(client)
    assert client.scheduler_comm.interval == dask_private.STREAM_INTERVAL


def test_worker_batching_interval_is_settable(local):
    _, _, worker, _ = local
    assert hasattr(worker.batched_stream, "interval")
    dask_private.shorten_worker_batching(worker)
    assert worker.batched_stream.interval == dask_private.STREAM_INTERVAL


def test_scheduler_batching_intervals_are_settable(local):
    cluster, scheduler, worker, client = local
    _in_loop(cluster, lambda: dask_private.shorten_scheduler_batching(scheduler, worker=worker.address))
    _in_loop(cluster, lambda: dask_private.shorten_scheduler_batching(scheduler, client=client.id))
    assert scheduler.stream_comms[worker.address].interval == dask_private.STREAM_INTERVAL
    assert scheduler.client_comms[client.id].interval == dask_private.STREAM_INTERVAL


def test_gather_uses_client_gather(local):
    _, _, _, client = local
    assert inspect.iscoroutinefunction(Client._gather)
    futures = [client.submit(_inc, i, pure=False) for i in range(3)]
    assert client.sync(dask_private.gather, client, futures) == [1, 2, 3]


# -- the scheduler -------------------------------------------------------------------------------


def test_task_state_has_the_attributes_we_read_and_write():
    slots = set(TaskState.__slots__)
    for name in ("annotations", "suspicious", "dependencies", "nbytes", "actor",
                 "resource_restrictions", "worker_restrictions", "host_restrictions"):
        assert name in slots, f"TaskState.{name} is gone"
    assert isinstance(TaskState.state, property)


def test_annotations_written_in_the_scheduler_reach_the_worker(local):
    cluster, scheduler, _, client = local
    assert "annotations" in inspect.getsource(Scheduler._task_to_msg)
    gate = _gate()
    blocker = client.submit(_blocked, gate, pure=False)
    reader = client.submit(_own_annotations, blocker, pure=False)
    _until(lambda: reader.key in scheduler.tasks)
    _in_loop(cluster, dask_private.annotate, scheduler.tasks[reader.key], CRASHES, 2)
    GATES[gate].set()
    assert reader.result(timeout=30)[CRASHES] == 2


def test_a_worker_death_is_a_released_transition_with_a_counted_crash():
    """Dask's own path: a worker's connection drops while it runs a task."""
    assert "handle-worker-cleanup" in inspect.getsource(Scheduler.handle_worker)
    assert dask_private.WORKER_DEATH_STIMULI[0] == "handle-worker-cleanup"
    gate = _gate()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, **NO_DASHBOARD)
    with cluster, Client(cluster, set_as_default=False) as client:
        try:
            _kill_a_worker_running_a_task(cluster, client, gate)
        finally:
            _open_all_gates()
    assert dask_private.released_by_worker_death("processing", "released", "handle-worker-cleanup-1.0")
    assert not dask_private.released_by_worker_death("processing", "released", "worker-close-gracefully-1.0")


def _kill_a_worker_running_a_task(cluster: LocalCluster, client: Client, gate: str) -> None:
    """Cut the connection of the worker running a task, as a crash does; check the count."""
    client.register_plugin(KeyLedger(), name=KeyLedger.name)
    scheduler = cluster.scheduler
    victim = cluster.workers[0]
    future = client.submit(_blocked, gate, workers=[victim.address], allow_other_workers=True, pure=False)
    _until(lambda: _state(scheduler, future.key) == "processing")
    _in_loop(cluster, victim.batched_stream.comm.abort)
    _until(lambda: victim.address not in scheduler.workers)
    ts = scheduler.tasks[future.key]
    assert dask_private.worker_deaths(ts) == 1
    assert ts.annotations[CRASHES] == 1  # written by KeyLedger.transition
    GATES[gate].set()
    assert future.result(timeout=30) == gate


def test_update_data_makes_a_worker_value_dask_data(local):
    cluster, scheduler, worker, client = local
    key = f"stored-{uuid.uuid4().hex}"
    future = Future(key, client)  # first, as binding.bind does: the scheduler reports to it

    def store() -> None:
        dask_private.store_in_worker(worker, {key: 42})
        dask_private.update_data(scheduler, {key: [worker.address]}, {key: 28}, client.id)

    _in_loop(cluster, store)
    assert scheduler.tasks[key].state == "memory"
    assert client.id in {cs.client_key for cs in scheduler.tasks[key].who_wants}
    assert future.result(timeout=30) == 42


def test_free_in_worker_drops_a_key_the_scheduler_never_knew(local):
    cluster, _, worker, _ = local
    key = f"unknown-{uuid.uuid4().hex}"
    _in_loop(cluster, dask_private.store_in_worker, worker, {key: 1})
    assert key in worker.data
    _in_loop(cluster, dask_private.free_in_worker, worker, [key])
    _until(lambda: key not in worker.data)


def test_worker_task_has_the_annotations_and_resources_of_the_running_task(local):
    _, _, _, client = local

    def own_record() -> tuple[dict, dict]:
        ts = dask_private.worker_task(get_worker(), dask_private.running_task_key())
        return dict(ts.annotations or {}), dict(ts.resource_restrictions or {})

    with dask.annotate(marker="seen"):
        future = client.submit(own_record, pure=False)
    assert future.result(timeout=30) == ({"marker": "seen"}, {})


def test_a_paused_worker_holds_and_serves_data_but_runs_no_task():
    status = inspect.getattr_static(Worker, "status")
    assert isinstance(status, property) and status.fset is not None
    assert list(inspect.signature(Worker.get_data).parameters)[:5] == ["self", "comm", "keys", "who", "serializers"]
    with LocalCluster(n_workers=0, processes=False, **NO_DASHBOARD) as cluster:
        with Client(cluster, set_as_default=False) as client:
            paused = cluster.sync(_start_worker, dask_private.PausedWorker, cluster.scheduler_address)
            try:
                _until(lambda: cluster.scheduler.workers.get(paused.address) is not None)
                assert cluster.scheduler.workers[paused.address].status.name == "paused"
                key = f"held-{uuid.uuid4().hex}"
                stored = Future(key, client)

                def hold() -> None:  # as the object store holds a put
                    dask_private.store_in_worker(paused, {key: 7})
                    dask_private.update_data(cluster.scheduler, {key: [paused.address]}, {key: 28}, client.id)

                _in_loop(cluster, hold)
                future = client.submit(_inc, stored, pure=False)
                running = cluster.sync(_start_worker, Worker, cluster.scheduler_address)
                try:
                    assert future.result(timeout=30) == 8  # ran on the running worker, with the data served
                    assert cluster.scheduler.tasks[future.key].who_has == {cluster.scheduler.workers[running.address]}
                finally:
                    cluster.sync(running.close)
            finally:
                cluster.sync(paused.close)


async def _start_worker(cls, address):
    return await cls(address, nthreads=1, dashboard=False)


def test_http_pages_can_be_added_and_removed_and_the_dashboard_connected():
    from distributed.dashboard import scheduler as dashboard
    from tornado import web

    assert list(inspect.signature(dashboard.connect).parameters)[:3] == ["application", "http_server", "scheduler"]
    with LocalCluster(n_workers=0, processes=False, **NO_DASHBOARD) as cluster:
        scheduler = cluster.scheduler
        pages = web.Application([])
        _in_loop(cluster, dask_private.add_http_pages, scheduler, pages)
        assert pages in scheduler.http_application.applications
        _in_loop(cluster, dask_private.remove_http_pages, scheduler, pages)
        assert pages not in scheduler.http_application.applications
        _in_loop(cluster, dask_private.connect_dashboard, scheduler, dashboard)
        with urllib.request.urlopen(f"http://127.0.0.1:{scheduler.http_server.port}/status", timeout=30) as page:
            assert page.status == 200 and b"bokeh" in page.read().lower()


def test_client_desires_keys_keeps_a_key_for_another_client(local):
    cluster, scheduler, _, client = local
    with Client(cluster, set_as_default=False) as other:
        future = client.submit(_inc, 1, pure=False)
        future.result(timeout=30)
        theirs = Future(future.key, other)  # first, as binding.bind does: the scheduler reports to it
        _in_loop(cluster, dask_private.client_desires_keys, scheduler, [future.key], other.id)
        ts = scheduler.tasks[future.key]
        assert other.id in {cs.client_key for cs in ts.who_wants}
        future.release()
        _until(lambda: client.id not in {cs.client_key for cs in ts.who_wants})
        assert ts.state == "memory"  # still kept: ``other`` wants it
        assert theirs.result(timeout=30) == 2


def test_show_in_task_stream_makes_a_record_the_dashboard_draws(local):
    _, scheduler, _, _ = local
    parameters = inspect.signature(TaskStreamPlugin.transition).parameters
    assert any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    stream = TaskStreamPlugin(scheduler)
    key = f"Counter.incr-{uuid.uuid4().hex}"
    dask_private.show_in_task_stream(stream, key, "tcp://127.0.0.1:1", 10.0, 10.5)
    [record] = stream.collect()
    assert record["key"] == key and record["worker"] == "tcp://127.0.0.1:1"
    drawn = rectangles([record])
    assert drawn["name"] == ["Counter.incr"] and drawn["duration"] == [500.0]


def test_queueing_replaces_is_rootish_and_dask_still_asks_it(local):
    cluster, scheduler, _, client = local
    assert "self.is_rootish(ts)" in inspect.getsource(Scheduler._transition_waiting_processing)
    assert scheduler.WORKER_SATURATION != float("inf")  # queuing is on
    _in_loop(cluster, queueing.queue_until_a_slot_opens, scheduler)
    assert scheduler.is_rootish is queueing.waits_for_a_slot
    gate = _gate()
    running = client.submit(_blocked, gate, pure=False)
    _until(lambda: _state(scheduler, running.key) == "processing")
    waiting = client.submit(_inc, 1, pure=False)  # a group of one: Dask alone sends it at once
    _until(lambda: _state(scheduler, waiting.key) not in (None, "released"))
    assert _state(scheduler, waiting.key) == "queued"
    GATES[gate].set()
    assert waiting.result(timeout=30) == 2


# -- routes of raycompat's extensions -------------------------------------------------------------


def test_extension_routes_are_handlers_and_shadow_no_plugin_hook(local):
    _, _, _, client = local
    hooks = {name for name in dir(SchedulerPlugin) if not name.startswith("_")}
    for extension in EXTENSIONS:
        methods = {method.__name__ for method in extension().routes().values()}
        assert not methods & hooks, f"{extension.__name__} would answer Dask's plugin hooks {methods & hooks}"
    client.register_plugin(GeneratorMailbox(), name=GeneratorMailbox.name)
    assert client.sync(client.scheduler.raycompat_generator_wait, stream="none", index=0, timeout=0.01) is None


# -- cloudpickle ---------------------------------------------------------------------------------


def test_dumps_keeping_filenames_keeps_co_filename():
    assert callable(cloudpickle.cloudpickle._code_reduce)
    source = "def outer(x):\n    def inner(y):\n        return y * 2\n    return inner(x) + 1\n"
    namespace: dict = {"__name__": "raycompat_test_not_a_module"}  # not importable: pickled by value
    exec(compile(source, "/home/user/script.py", "exec"), namespace)  # noqa: S102 - a script's function
    fn = pickle.loads(dask_private.dumps_keeping_filenames(namespace["outer"]))
    assert fn(3) == 7
    assert fn.__code__.co_filename == "/home/user/script.py"
    inner = next(c for c in fn.__code__.co_consts if inspect.iscode(c))
    assert inner.co_filename == "/home/user/script.py"
