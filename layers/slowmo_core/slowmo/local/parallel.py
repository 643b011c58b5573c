"""Run the chunks of a local job on one core or many, each chunk through `chunkjob.render_chunk`.

Serial (`jobs == 1`): the decoded stream is cut into the chunks as it is read, and each chunk is
rendered in this process.

Parallel (`jobs > 1`): this process decodes the input once, front to back, and writes each unfinished
chunk's source frames to a lossless chunk file in the work folder (Ut Video, `chunkio`). N worker
processes take the chunks in order, render them and commit them to the work folder. The decoder runs
at most N + 1 chunks ahead of the finished ones (`ahead`), so neither memory nor the work folder grows
with the video's length; the finished segments are joined in order at the end.

Each worker gets its share of the cores (OpenCV, OpenMP/BLAS and x264 threads), so N workers do not
oversubscribe the machine. Workers ignore Ctrl-C: this process stops them, and the chunks they
finished stay in the work folder for `--resume`.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from slowmo.errors import SlowmoError
from slowmo.local.chunkjob import RenderSettings, render_chunk
from slowmo.timeline.chunks import Chunk

log = logging.getLogger(__name__)

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# Memory one worker needs, with its two ffmpeg processes (chunk reader, encoder): a fixed part plus
# bytes per pixel of a frame. Deliberately above what was measured: the largest single process of a
# --jobs 2 flow run peaked at 170 MB at 1280x720 and 263 MB at 1920x1080 (docs/parallel.md).
WORKER_BYTES_PER_PIXEL = {"blend": 40, "flow": 160, "film": 600}
WORKER_FIXED_BYTES = 250 << 20
MIN_WORK_MPX = 20  # output megapixel-frames that make a worker worth starting (~350 frames at 320x180)
POLL_S = 0.2


class WorkerFailed(SlowmoError):
    """A worker process died without saying why (killed, usually for lack of memory)."""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def worker_memory(width: int, height: int, engine: str) -> int:
    return WORKER_FIXED_BYTES + width * height * WORKER_BYTES_PER_PIXEL.get(engine, WORKER_BYTES_PER_PIXEL["film"])


def default_jobs(width: int, height: int, engine: str, *, output_frames: int | None = None, cores: int | None = None,
                 memory: int | None = None) -> int:
    """The usable cores, but no more workers than the available memory holds (80% of it), and none
    for less than MIN_WORK_MPX output megapixel-frames each: starting a worker (a fresh interpreter
    with OpenCV) costs about a second, more than a clip of a few dozen small frames takes."""
    cores = usable_cores() if cores is None else cores
    memory = available_memory() if memory is None else memory
    jobs = cores if memory is None else min(cores, int(memory * 0.8) // worker_memory(width, height, engine))
    if output_frames is not None:
        jobs = min(jobs, int(output_frames * width * height / 1e6 // MIN_WORK_MPX))
    return max(1, jobs)


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    return max(1, (usable_cores() if cores is None else cores) // jobs)


# -- the stream, cut into chunks ------------------------------------------------------------------
def split_stream(frames: Iterable, chunks: Sequence[Chunk]) -> Iterator[tuple[Chunk, Iterator, bool]]:
    """Yield (chunk, its source frames, open_ended) for each chunk, reading frames only once.

    Consecutive chunks share their boundary frame. The last chunk is open-ended: it takes every frame
    up to the end of the stream, however many the probe announced. If the stream ends early, the
    chunk it ends in is the last one. Each chunk's frames must be consumed (or abandoned) before the
    next chunk is asked for; what a consumer leaves is read past.
    """
    source = iter(frames)
    boundary = None
    exhausted = False
    for position, chunk in enumerate(chunks):
        if position > 0:
            upcoming = next(source, None)
            if upcoming is None:
                return
        else:
            upcoming = None
        last = position == len(chunks) - 1
        wanted = None if last else chunk.end - chunk.start + 1
        state = {"boundary": boundary, "exhausted": False}

        def chunk_frames(upcoming=upcoming, wanted=wanted, state=state):
            count = 0
            if state["boundary"] is not None:
                yield state["boundary"]
                count = 1
            if upcoming is not None:
                state["boundary"] = upcoming
                count += 1
                yield upcoming
            while wanted is None or count < wanted:
                frame = next(source, None)
                if frame is None:
                    state["exhausted"] = True
                    return
                state["boundary"] = frame
                count += 1
                yield frame

        generator = chunk_frames()
        yield chunk, generator, last
        for _ in generator:  # read past whatever the consumer left (a finished chunk being skipped)
            pass
        boundary, exhausted = state["boundary"], state["exhausted"]
        if exhausted:
            return


# -- serial ---------------------------------------------------------------------------------------
def run_serial(frames: Iterable, chunks: Sequence[Chunk], settings: RenderSettings, store, done: dict[int, dict],
               engine, on_frames: Callable[[int], object] | None = None) -> list[dict]:
    records = []
    for chunk, chunk_frames, open_ended in split_stream(frames, chunks):
        if chunk.index in done:
            continue
        staging = store.staging_folder(chunk.index)
        record = render_chunk(chunk_frames, chunk, settings, staging, engine, on_frames, open_ended=open_ended)
        records.append(store.commit(chunk.index, staging, record))
    return records


# -- parallel -------------------------------------------------------------------------------------
@contextmanager
def _thread_env(threads: int):
    """Children inherit the environment at start: cap the numeric libraries' threads in theirs."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    os.environ.update({name: str(threads) for name in THREAD_ENV})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _children_ignore_ctrl_c():
    """Workers start with Ctrl-C ignored. A spawned worker sets SIG_IGN itself only once its bootstrap
    (a fresh interpreter importing numpy and OpenCV: seconds on a loaded machine) is over; a Ctrl-C to
    the process group before that killed it with a traceback and status 1, which the parent could take
    for a failed worker. A child inherits an ignored signal through exec, and Python keeps it ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_main(tasks, results, settings: RenderSettings, store_path: str, threads: int) -> None:
    """A worker process: render the chunks it is given until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: writers kill their ffmpeg
    import cv2

    from slowmo.local.workdir import ChunkStore
    from slowmo.media.chunkio import read_chunk
    from slowmo.synthesis.engines import create_engine

    cv2.setNumThreads(threads)
    store = ChunkStore(Path(store_path), key={})
    index = None
    try:
        engine = create_engine(settings.engine, **settings.engine_options)
        while (task := tasks.get()) is not None:
            chunk, input_path, open_ended = task
            index = chunk.index
            staging = store.staging_folder(index)
            record = render_chunk(read_chunk(input_path), chunk, settings, staging, engine,
                                  lambda n: results.put(("frames", n)), open_ended=open_ended)
            record = store.commit(index, staging, record)
            Path(input_path).unlink(missing_ok=True)
            results.put(("done", record))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent, which decides
        if isinstance(exc, SystemExit):
            raise
        results.put(("error", index, _portable(exc), traceback.format_exc()))


def _portable(exc: BaseException) -> BaseException:
    """The error as the parent can receive it: a queue drops what does not pickle, silently."""
    if isinstance(exc, SlowmoError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:  # noqa: BLE001 - any failure to round-trip means: send the text instead
            return SlowmoError(str(exc))
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def run_parallel(frames: Iterable, chunks: Sequence[Chunk], settings: RenderSettings, store, done: dict[int, dict],
                 jobs: int, on_frames: Callable[[int], object] | None = None, *, chunk_codec: str | None = None) -> list[dict]:
    import multiprocessing

    from slowmo.media import chunkio

    threads = threads_per_worker(jobs)
    settings = replace(settings, encode={**settings.encode, "threads": threads})
    context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
    tasks, results = context.Queue(), context.Queue()
    ahead = threading.Semaphore(jobs + 1)  # chunk files decoded but not yet rendered
    stop = threading.Event()
    extraction: dict = {"submitted": 0, "finished": False, "error": None}

    def extract() -> None:
        try:
            for chunk, chunk_frames, _open_ended in split_stream(frames, chunks):
                if chunk.index in done:
                    continue
                while not ahead.acquire(timeout=POLL_S):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                path = store.path / f"in-{chunk.index:05d}{chunkio.EXTENSION}"
                temp = path.with_name(f"tmp-{path.name}")
                try:
                    written = chunkio.write_chunk(_until(stop, chunk_frames), temp, codec=chunk_codec)
                    os.replace(temp, path)
                finally:
                    temp.unlink(missing_ok=True)
                # The chunk file holds exactly this range: the worker must read all of it.
                actual = Chunk(chunk.index, chunk.start, chunk.start + written.frame_count - 1)
                tasks.put((actual, str(path), False))
                extraction["submitted"] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            extraction["error"] = exc
        finally:
            extraction["finished"] = True
            for _ in range(jobs):
                tasks.put(None)

    with _thread_env(threads), _children_ignore_ctrl_c():
        workers = [context.Process(target=_worker_main, args=(tasks, results, settings, str(store.path), threads),
                                   name=f"slowmo-worker-{n}", daemon=True) for n in range(jobs)]
        for worker in workers:
            worker.start()
    reader = threading.Thread(target=extract, name="slowmo-extract", daemon=True)
    reader.start()
    records: list[dict] = []
    try:
        while not (extraction["finished"] and len(records) == extraction["submitted"]):
            if extraction["error"] is not None:
                raise extraction["error"]
            try:
                message = results.get(timeout=POLL_S)
            except queue.Empty:
                _check_alive(workers)
                if all(worker.exitcode is not None for worker in workers) and results.empty():
                    raise WorkerFailed("the worker processes ended before every chunk was done") from None
                continue
            if message[0] == "frames":
                if on_frames is not None:
                    on_frames(message[1])
            elif message[0] == "done":
                records.append(message[1])
                ahead.release()
            else:
                _kind, index, error, trace = message
                log.debug("chunk %s failed in a worker:\n%s", index, trace)
                raise error
        if extraction["error"] is not None:
            raise extraction["error"]
        for worker in workers:  # each has its stop sign (None) and leaves by itself
            worker.join(timeout=10)
    finally:
        stop.set()
        _stop_workers(workers)
        reader.join(timeout=5)
        for channel in (tasks, results):
            channel.cancel_join_thread()
            channel.close()
    return records


class _Stopped(Exception):
    pass


def _until(stop: threading.Event, frames: Iterable) -> Iterator:
    """frames, but raising as soon as the run is stopping (a chunk file is never finished after that)."""
    for frame in frames:
        if stop.is_set():
            raise _Stopped
        yield frame


def _check_alive(workers) -> None:
    for worker in workers:
        if worker.exitcode in (143, -signal.SIGTERM, -signal.SIGINT):
            raise KeyboardInterrupt  # stopped like the whole run (kill of the process group)
        if worker.exitcode not in (None, 0):
            code = worker.exitcode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise WorkerFailed(f"a worker process {how}, probably for lack of memory; try fewer --jobs")


def _stop_workers(workers) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
            worker.join()
