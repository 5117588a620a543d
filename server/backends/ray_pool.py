"""Generation spread over a Ray cluster: one model replica per GPU (or per CPU slot), one job per replica.

Only the generation moves. The HTTP front, validation, the SQLite store, the queue, chaining, mp4 writing
and every job-state rule stay in the server process (queue/): each replica gets one ``JobRunner`` thread
there, which claims the next queued job and runs it through a :class:`ReplicaBackend`, a ``Backend``
whose ``generate()`` is a call on that replica's Ray actor. So a queued job goes to whichever replica
is free, N replicas run N jobs at once, and progress, cancel and the applied record work exactly as on
one process.

The actor loads the model once in its constructor (Ray restarts it, and so reloads the model, when its
process dies). It is a threaded actor: ``generate`` runs while ``progress`` and ``cancel`` calls from the
front are answered beside it. The clip comes back through Ray's object store and the front writes the
mp4 with the same atomic write as today. A replica that dies mid-job (killed, out of memory, node lost)
surfaces as ``RayActorError`` on the caller's ref: the front raises :class:`ReplicaLost` and the job
runner puts the job back in the queue (the attempt counted), where another replica takes it.

Ray is imported only when ``--ray`` is given.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from .base import Backend, Cancelled, CancelCheck, Clip, GenerateRequest, ProgressCallback, ReplicaLost
from .profiles import Profile

log = logging.getLogger("server.ray")

#: How often the front asks a busy replica for its progress (and passes a cancel on).
POLL_S = 0.2
#: The actor answers progress/cancel/info calls while generate runs.
ACTOR_CONCURRENCY = 4


@dataclass
class ReplicaState:
    index: int
    state: str = "loading"  # loading | idle | busy | restarting
    pid: int | None = None
    node: str | None = None
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _backend_for(settings) -> Backend:
    from . import load_backend

    return load_backend(settings)


class _Replica:
    """The Ray actor body (decorated in :func:`_actor_class`): one loaded model, one job at a time."""

    def __init__(self, settings) -> None:
        import ray

        try:
            import torch

            # Each replica was given its share of the CPUs by Ray; more threads only fight the others.
            torch.set_num_threads(
                max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
            )
        except ImportError:
            pass
        self.backend = _backend_for(settings)
        self.backend.load()
        self.node = ray.get_runtime_context().get_node_id()
        self._lock = threading.Lock()
        self._call: str | None = None
        self._progress = 0.0
        self._cancel: set[str] = set()

    def describe(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "node": self.node,
            "device": self.backend.info().get("device"),
            "info": self.backend.info(),
            "capabilities": self.backend.capabilities(),
            "family": self.backend.family,
            "capability_list": self.backend.capability_list(),
            "loras": self.backend.loras(),
            "profile": self.backend.profile(),
            "extra": self.backend.health_extra() if hasattr(self.backend, "health_extra") else {},
            "recipe": self.backend.recipe(),
            "memory": self.backend.memory_report(),
        }

    def generate(self, call: str, request: GenerateRequest, latents=None) -> tuple[str, Clip | None]:
        """The job's clip; with ``latents`` (a draft's) the finalize of them."""
        with self._lock:
            self._call, self._progress = call, 0.0

        def progress(p: float) -> None:
            self._progress = p

        def cancelled() -> bool:
            return call in self._cancel

        try:
            if latents is not None:
                return "ok", self.backend.finalize(request, latents, progress, cancelled)
            return "ok", self.backend.generate(request, progress, cancelled)
        except Cancelled:
            return "cancelled", None
        finally:
            with self._lock:
                self._call = None
                self._cancel.discard(call)

    def condition_index(self, index: int, num_frames: int) -> int:
        return self.backend.condition_index(index, num_frames)

    def choose_camera_lora(self, requested: str, scale: float, move: str | None):
        return self.backend.choose_camera_lora(requested, scale, move)

    def progress(self, call: str) -> float | None:
        return self._progress if self._call == call else None

    def cancel(self, call: str) -> None:
        self._cancel.add(call)


def _actor_class(num_cpus: float, num_gpus: float):
    import ray

    return ray.remote(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        max_restarts=-1,  # Ray brings a dead replica back (and it reloads the model)
        max_task_retries=0,  # never run a job twice behind our back: the front requeues it, counted
        max_concurrency=ACTOR_CONCURRENCY,
    )(_Replica)


class RayPool:
    """Starts (or joins) Ray, creates the replicas, and hands out one ReplicaBackend per replica."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.replicas: list[ReplicaBackend] = []
        self._started_ray = False
        self._first: dict[str, Any] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        import dataclasses

        import ray

        if self.settings.model == "tiny":
            # Built once here, not by every replica at the same time into the same folder.
            from .tiny import make_tiny_model

            path = make_tiny_model(self.settings.data_dir / "tiny-model")
            self.settings = dataclasses.replace(self.settings, model=str(path))
        address = self.settings.ray_address
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        gpus = float(ray.cluster_resources().get("GPU", 0))
        per = self.settings.gpus_per_replica if gpus else 0.0
        n = self.settings.replicas or (max(1, int(gpus // per)) if gpus and per else 1)
        cpus = 1.0
        if not gpus:
            # CPU replicas share this machine's cores evenly.
            cpus = max(1.0, float(ray.cluster_resources().get("CPU", 1)) // n)
        Actor = _actor_class(cpus, per)
        log.info("starting %d replica(s) on Ray (%s GPU, %s CPU each)", n, per, cpus)
        self.replicas = [ReplicaBackend(i, Actor.remote(self.settings), self) for i in range(n)]

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Block until every replica has loaded its model (raises the first load error)."""
        import ray

        infos = ray.get([r.actor.describe.remote() for r in self.replicas], timeout=timeout)
        for replica, info in zip(self.replicas, infos, strict=True):
            replica.adopt(info)
        self._first = infos[0]

    def stop(self) -> None:
        import ray

        for replica in self.replicas:
            try:
                ray.kill(replica.actor, no_restart=True)
            except Exception:  # already gone: nothing to stop
                pass
        if self._started_ray:
            ray.shutdown()

    # -- what the front shows --------------------------------------------------------------------------
    def states(self) -> list[dict[str, Any]]:
        return [r.state.to_dict() for r in self.replicas]

    @property
    def first(self) -> dict[str, Any]:
        if self._first is None:
            raise RuntimeError("the replicas are not loaded yet")
        return self._first


class ReplicaBackend(Backend):
    """The Backend one JobRunner thread drives: generate() runs on this replica's actor."""

    name = "ray"

    def __init__(self, index: int, actor, pool: RayPool) -> None:
        self.index = index
        self.actor = actor
        self.pool = pool
        self.state = ReplicaState(index)

    def adopt(self, info: dict[str, Any]) -> None:
        self.state.pid, self.state.node, self.state.device = info["pid"], info["node"], info["device"]
        self.state.state = "idle"

    # The model facts are the same on every replica: the first one's answer serves them all.
    @property
    def family(self) -> str:  # type: ignore[override]
        return self.pool.first["family"]

    def capabilities(self) -> Any:
        return self.pool.first["capabilities"]

    def capability_list(self) -> list[str]:
        return self.pool.first["capability_list"]

    def loras(self) -> list[dict[str, Any]]:
        return self.pool.first["loras"]

    # Per-job choices that depend on what the replica loaded are asked of it (a ProtocolError it raises
    # comes back as the same 422).
    def condition_index(self, index: int, num_frames: int) -> int:
        return self._ask(self.actor.condition_index.remote(index, num_frames))

    def choose_camera_lora(self, requested: str, scale: float, move: str | None):
        return self._ask(self.actor.choose_camera_lora.remote(requested, scale, move))

    @staticmethod
    def _ask(ref):
        import ray

        try:
            return ray.get(ref, timeout=60)
        except ray.exceptions.RayTaskError as exc:
            raise exc.cause from None

    def info(self) -> dict[str, Any]:
        return {**self.pool.first["info"], "replicas": len(self.pool.replicas)}

    def profile(self) -> Profile:
        return self.pool.first["profile"]

    def health_extra(self) -> dict[str, Any]:
        return self.pool.first.get("extra") or {}

    def recipe(self) -> dict[str, Any]:
        return self.pool.first.get("recipe") or super().recipe()

    def finalize(
        self,
        request: GenerateRequest,
        latents: dict[str, Any],
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
    ) -> Clip:
        return self._run(request, progress_cb, cancel_check, latents)

    def memory_report(self) -> dict[str, Any]:
        """The memory mode the replicas run in (each decides alike: same settings, same kind of device)."""
        return {**self.pool.first["memory"], "replicas": len(self.pool.replicas)}

    def load(self) -> None:  # the pool loads every replica
        pass

    def wait_ready(self, timeout: float) -> bool:
        """False while this replica is restarting (its job runner then claims no job)."""
        if self.state.state != "restarting":
            return True
        import ray

        try:
            self.adopt(ray.get(self.actor.describe.remote(), timeout=timeout))
            log.info("replica %d is back (pid %s)", self.index, self.state.pid)
            return True
        except ray.exceptions.GetTimeoutError:
            return False
        except ray.exceptions.RayActorError:
            time.sleep(min(timeout, 1.0))
            return False

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Clip:
        return self._run(request, progress_cb, cancel_check)

    def _run(self, request: GenerateRequest, progress_cb, cancel_check, latents=None) -> Clip:
        import ray

        call = uuid.uuid4().hex
        self.state.state = "busy"
        ref = self.actor.generate.remote(call, request, latents)
        cancel_sent = False
        try:
            while True:
                done, _ = ray.wait([ref], timeout=POLL_S)
                if done:
                    outcome, clip = ray.get(ref)
                    break
                if cancel_check() and not cancel_sent:
                    self.actor.cancel.remote(call)
                    cancel_sent = True
                try:
                    p = ray.get(self.actor.progress.remote(call), timeout=5.0)
                except ray.exceptions.GetTimeoutError:
                    p = None
                if p is not None:
                    progress_cb(p)
        except ray.exceptions.RayActorError as exc:
            self.state.state = "restarting"
            raise ReplicaLost(
                f"replica {self.index} (pid {self.state.pid}) died while running the job: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            ) from None
        finally:
            if self.state.state == "busy":
                self.state.state = "idle"
        if outcome == "cancelled":
            raise Cancelled()
        return clip
