"""Decoding and embedding on a Ray cluster (``pixsift index --ray ADDRESS``).

A pool of Ray actors, each loading the model once (on a GPU where its node has one), reads files
by the paths the driver scanned (a path every node sees: a shared mount), decodes and embeds them
in batches, and streams the vectors back with the pictures' thumbnails, preview and placeholder
made from the same decoded picture (``--thumbnails``, as a local run). The driver's pipeline
(indexer.pipeline) stays the one writer: it commits each batch, records failures and publishes
the index exactly as a local run does (it alone writes the thumbnails, aside then renamed,
before the rows that name them commit), so a killed driver resumes like a killed local run
(committed batches are skipped).

A worker lost mid-batch is restarted by Ray, which reruns its in-flight tasks; a batch whose
actor still dies (or hangs past its time limit) is split and its files are retried one by one on
the remaining actors, so a file that kills its decoder is recorded as a failure and nothing else
is lost. Results are yielded in submission order; a result is only committed once, by the driver.

Ray is an optional extra (``pip install 'pixsift[ray]'``); this module imports it on use.
"""

from __future__ import annotations

import functools
import itertools
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from pixsift.indexer.decoding import DecodedImage, DecodeFailure, DecodeResult
from pixsift.indexer.pipeline import DecodeStage, IndexingOptions
from pixsift.search.errors import InvalidInputError, PixsiftError
from pixsift.search.model.protocol import Embedder, embedder_precision
from pixsift.search.records import EmbeddingMatrix

#: Batches queued per actor: one running, one waiting, so no actor idles between batches.
IN_FLIGHT_PER_ACTOR = 2
#: Ray restarts a dead actor this often (a fresh process loads the model again) and reruns
#: the task it was running this often before the driver splits the batch.
ACTOR_MAX_RESTARTS = 4
ACTOR_MAX_TASK_RETRIES = 1
#: Seconds a restarted actor may spend loading its model on top of a task's own time limit.
MODEL_LOAD_ALLOWANCE_SECONDS = 300.0


class RayClusterError(PixsiftError):
    code = "ray_cluster_error"
    http_status = 503


@dataclass(frozen=True)
class RayOptions:
    #: A Ray address ("ray://host:10001", "host:6379") or "auto": the cluster RAY_ADDRESS names
    #: or one started with ``ray start`` on this machine, else a new local one.
    address: str = "auto"
    #: None: one per GPU in the cluster, else one per CPU.
    actors: int | None = None
    cpus_per_actor: float = 1.0
    #: None: 1 where the cluster has GPUs, else 0.
    gpus_per_actor: float | None = None
    #: How long to wait for the cluster's address to accept a connection before giving up
    #: (Ray's own connection retries go on for much longer than anyone waits at a terminal).
    connect_timeout_seconds: float = 30.0


class EmbeddingWorker:
    """One Ray actor: loads the model once, then decodes and embeds batches of files."""

    def __init__(self, loader: Callable[[], Embedder], threads: int) -> None:
        from pixsift.indexer.decoding import initialise_decoder
        from pixsift.search.model.loading import set_thread_budget

        set_thread_budget(threads)
        self.embedder = loader()
        size = int(getattr(self.embedder, "image_size", 224))
        self.plan = initialise_decoder(self.embedder.preprocess, size)

    def describe(self) -> tuple[str, int, int, str]:
        embedder = self.embedder
        return embedder.model_id, embedder.dimension, os.getpid(), embedder_precision(embedder)

    def preprocessing(self) -> tuple[Any, int]:
        """The model's preprocess and input size, for what the driver decodes itself (video
        frames), which it then embeds on an actor."""
        return self.embedder.preprocess, int(getattr(self.embedder, "image_size", 224))

    def embed_files(
        self, paths: list[bytes], thumbnail_sizes: tuple[int, ...] = ()
    ) -> list[DecodeResult]:
        """Decode, embed and make the ``thumbnail_sizes`` renditions and the placeholder of
        each file; what travels back is the vector, the facts and those encoded files."""
        from pixsift.indexer.decoding import decode_file, model_input, set_thumbnail_sizes

        set_thumbnail_sizes(thumbnail_sizes)
        results = [_decode_safely(decode_file, path) for path in paths]
        decoded = [result for result in results if isinstance(result, DecodedImage)]
        if not decoded:
            return results
        vectors = iter(self.embedder.embed_pixel_batch(model_input(self.plan, decoded)))
        empty = np.empty(0, dtype=np.uint8)  # the pixels stay here: only the vector travels
        return [
            replace(result, pixels=empty, embedding=next(vectors))
            if isinstance(result, DecodedImage)
            else result
            for result in results
        ]

    def embed_texts(self, texts: list[str]) -> EmbeddingMatrix:
        return self.embedder.embed_texts(texts)

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        return self.embedder.embed_pixel_batch(pixel_batch)


def _decode_safely(decode: Callable[[bytes], DecodeResult], path: bytes) -> DecodeResult:
    try:
        return decode(path)
    except Exception as error:  # one bad file must not fail its whole batch
        return DecodeFailure(f"unexpected decoder error: {type(error).__name__}: {error}")


class RayEmbedder:
    """The cluster's model as an :class:`Embedder`: the driver's library claims it, and the
    index tuning's prompt embeddings and any pixels the driver decodes itself (video frames) run
    on an actor, so the driver never loads the model."""

    def __init__(self, cluster: RayCluster) -> None:
        self._cluster = cluster
        self.model_id, self.dimension = cluster.model_id, cluster.dimension
        self.image_precision = cluster.image_precision
        self.preprocess, self.image_size = cluster.call("preprocessing")

    def embed_images(self, images: Sequence[Any]) -> EmbeddingMatrix:
        raise InvalidInputError("a Ray embedder embeds files by path, not images in memory")

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        return self._cluster.call("embed_pixel_batch", pixel_batch)

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        return self._cluster.call("embed_texts", list(texts))


class RayCluster:
    """A connection to a Ray cluster and, once :meth:`embedder` is called, its actor pool."""

    def __init__(self, loader: Callable[[], Embedder], options: RayOptions) -> None:
        self.ray = _import_ray()
        self.options = options
        self._loader = loader
        self.actors: list[Any] = []
        self.model_id, self.dimension, self.image_precision = "", 0, "fp32"
        self._turn = itertools.count()

    def embedder(self) -> RayEmbedder:
        """Connect, start the actors (each loads the model), and return the cluster's model."""
        if not self.actors:
            self._connect()
            self._start_actors()
        return RayEmbedder(self)

    def _connect(self) -> None:
        ray, address = self.ray, self.options.address
        if ray.is_initialized():
            return
        wait_until_reachable(address, self.options.connect_timeout_seconds)
        try:
            ray.init(
                address=None if address == "auto" else address,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise RayClusterError(f"cannot reach the Ray cluster at {address}: {error}") from error

    def _start_actors(self) -> None:
        ray = self.ray
        resources = ray.cluster_resources()
        gpus = self.options.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        count = self.options.actors or max(
            1,
            int(resources.get("GPU", 0) // gpus)
            if gpus
            else int(resources.get("CPU", 1) // self.options.cpus_per_actor),
        )
        remote_class = ray.remote(
            num_cpus=self.options.cpus_per_actor,
            num_gpus=gpus,
            max_restarts=ACTOR_MAX_RESTARTS,
            max_task_retries=ACTOR_MAX_TASK_RETRIES,
        )(EmbeddingWorker)
        threads = max(1, int(self.options.cpus_per_actor))
        self.actors = [remote_class.remote(self._loader, threads) for _ in range(count)]
        try:
            described = ray.get([actor.describe.remote() for actor in self.actors])
        except ray.exceptions.RayError as error:
            raise RayClusterError(f"the Ray workers could not load the model: {error}") from error
        # One library, one model and one precision: a GPU actor runs torch at fp32 where a CPU
        # actor may run int8 towers, so a mixed cluster is refused rather than mixed vectors.
        models = {(model_id, precision) for model_id, _, _, precision in described}
        if len(models) != 1:
            raise RayClusterError(f"the Ray workers loaded different models: {sorted(models)}")
        self.model_id, self.dimension, _, self.image_precision = described[0]

    def call(self, method: str, *args: Any) -> Any:
        """Run one actor method on the next live actor."""
        actor = self._next_actor()
        return self.ray.get(getattr(actor, method).remote(*args))

    def _next_actor(self) -> Any:
        if not self.actors:
            raise RayClusterError("no Ray worker is left: every actor died")
        return self.actors[next(self._turn) % len(self.actors)]

    def check_actor(self, actor: Any) -> None:
        """Restart ``actor`` (a hung task ends with it) and drop it if it is dead for good."""
        ray = self.ray
        ray.kill(actor, no_restart=False)
        try:
            ray.get(actor.describe.remote(), timeout=MODEL_LOAD_ALLOWANCE_SECONDS)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            self.actors = [kept for kept in self.actors if kept is not actor]

    def stage(self, embedder: Embedder, options: IndexingOptions) -> DecodeStage:
        """The pipeline's decode stage (see indexer.pipeline.DecodeStageFactory)."""
        return RayDecodeStage(
            self, options.batch_size, options.decode_timeout_seconds, options.thumbnail_sizes
        )

    def shutdown(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


class RayDecodeStage:
    """Streams files through the actor pool in batches, a bounded number in flight, and yields
    one result per file in submission order."""

    def __init__(
        self,
        cluster: RayCluster,
        batch_size: int,
        timeout_seconds: float,
        thumbnail_sizes: tuple[int, ...] = (),
    ) -> None:
        self.cluster = cluster
        self.batch_size = batch_size
        self.timeout_seconds = timeout_seconds
        self.thumbnail_sizes = tuple(thumbnail_sizes)

    def decode_in_order(self, path_bytes_list: Iterable[bytes]) -> Iterator[DecodeResult]:
        batches = _chunks(iter(path_bytes_list), self.batch_size)
        pending: deque[tuple[list[bytes], Any, Any]] = deque()
        for batch in batches:
            pending.append(self._submit(batch))
            if len(pending) >= len(self.cluster.actors) * IN_FLIGHT_PER_ACTOR:
                break
        while pending:
            batch, actor, reference = pending.popleft()
            results = self._collect(batch, actor, reference)
            next_batch = next(batches, None)
            if next_batch is not None:
                pending.append(self._submit(next_batch))
            yield from results

    def _submit(self, batch: list[bytes]) -> tuple[list[bytes], Any, Any]:
        actor = self.cluster._next_actor()
        return batch, actor, actor.embed_files.remote(batch, self.thumbnail_sizes)

    def _collect(self, batch: list[bytes], actor: Any, reference: Any) -> list[DecodeResult]:
        ray = self.cluster.ray
        limit = self.timeout_seconds * len(batch) + MODEL_LOAD_ALLOWANCE_SECONDS
        try:
            return ray.get(reference, timeout=limit)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            # Ray restarted the actor and reran the task, and it failed again: isolate the file.
            self.cluster.check_actor(actor)
            return [self._one_file(path) for path in batch]

    def _one_file(self, path: bytes) -> DecodeResult:
        """One file on a live actor; a second actor tries before the file counts as failed."""
        ray = self.cluster.ray
        failure = DecodeFailure("the decoder crashed its Ray worker")
        for _ in range(2):
            actor = self.cluster._next_actor()
            try:
                (result,) = ray.get(
                    actor.embed_files.remote([path], self.thumbnail_sizes),
                    timeout=self.timeout_seconds + MODEL_LOAD_ALLOWANCE_SECONDS,
                )
                return result
            except ray.exceptions.GetTimeoutError:
                failure = DecodeFailure(f"decoding took longer than {self.timeout_seconds:g} s")
            except ray.exceptions.RayActorError:
                failure = DecodeFailure("the decoder crashed its Ray worker")
            self.cluster.check_actor(actor)
        return failure

    def model_input(self, decoded: list[DecodedImage]) -> np.ndarray:
        raise InvalidInputError("Ray workers embed what they decode; there is no pixel batch")

    def close(self) -> None:
        """Nothing to wait for: every batch was collected."""

    def abort(self) -> None:
        self.cluster.shutdown()


#: Ray's default port for a bare host (its GCS); a "ray://" client address defaults to 10001.
RAY_DEFAULT_PORT, RAY_CLIENT_DEFAULT_PORT = 6379, 10001
PROBE_INTERVAL_SECONDS = 0.5


def ray_endpoint(address: str) -> tuple[str, int] | None:
    """The host and port ``address`` connects to; None for "auto" without RAY_ADDRESS (Ray
    then starts a cluster of its own, nothing to wait for)."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address or address == "auto":
            return None
    client = address.startswith("ray://")
    try:
        parts = urlsplit(address if client else f"//{address}")
        port = parts.port
    except ValueError as error:
        raise InvalidInputError(f"not a Ray address: {address!r} ({error})") from error
    if not parts.hostname:
        raise InvalidInputError(f"not a Ray address: {address!r}")
    return parts.hostname, port or (RAY_CLIENT_DEFAULT_PORT if client else RAY_DEFAULT_PORT)


def wait_until_reachable(address: str, timeout_seconds: float) -> None:
    """Return once ``address`` accepts a TCP connection; a RayClusterError after
    ``timeout_seconds`` without one (a cluster still starting gets that long to listen)."""
    endpoint = ray_endpoint(address)
    if endpoint is None:
        return
    deadline = time.monotonic() + timeout_seconds
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection(endpoint, timeout=max(0.1, remaining)):
                return
        except OSError as error:
            if time.monotonic() + PROBE_INTERVAL_SECONDS >= deadline:
                reason = error.strerror or str(error) or type(error).__name__
                raise RayClusterError(
                    f"cannot reach the Ray cluster at {address}: nothing accepted a connection "
                    f"within {timeout_seconds:g} s ({reason})"
                ) from error
        time.sleep(PROBE_INTERVAL_SECONDS)


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise InvalidInputError(
            "indexing on a Ray cluster needs Ray: pip install 'pixsift[ray]'"
        ) from error
    return ray


def ray_loader(spec: Any, runtime: Any) -> Callable[[], Embedder]:
    """What each actor runs to load the model (a picklable call of the ordinary loader)."""
    from pixsift.search.model.loading import load_embedder

    return functools.partial(load_embedder, spec, runtime)
