"""Thread-level parallelism for the kernels.

Compiled kernels release the GIL, so a plain thread pool runs them on all cores with no OpenMP
runtime to ship in wheels. Work is split into contiguous ranges, one per thread; each range
writes its own slice of a preallocated output, so results do not depend on the thread count.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``FASTEMBED_CORE_NUM_THREADS`` if set, else the cores this process may run on."""
    env = os.environ.get("FASTEMBED_CORE_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"FASTEMBED_CORE_NUM_THREADS must be a positive integer, not {env!r}") from None
        if n >= 1:
            return n
        raise ValueError(f"FASTEMBED_CORE_NUM_THREADS must be a positive integer, not {env!r}")
    return cpu_count()


def resolve_threads(num_threads: int | None) -> int:
    """None -> all cores; otherwise a positive integer (the rule of ``_validate.threads``)."""
    from ._validate import threads

    return threads(num_threads)


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def _reset_after_fork() -> None:
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fastembed_core")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def split(n: int, parts: int, min_chunk: int = 1) -> list[tuple[int, int]]:
    """Split range(n) into at most ``parts`` contiguous (start, stop) ranges of >= min_chunk items."""
    parts = max(1, min(parts, n // max(1, min_chunk)))
    step, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + step + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def run(fn: Callable[[int, int], object], n: int, num_threads: int | None, min_chunk: int = 1) -> list:
    """Call ``fn(start, stop)`` over contiguous ranges covering range(n), in parallel.

    Returns the results in range order. With one range (small n, or one thread) it runs inline.
    """
    ranges = split(n, resolve_threads(num_threads), min_chunk)
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    pool = _get_pool(len(ranges))
    # The caller's thread takes the first range itself rather than idling.
    futures = [pool.submit(fn, a, b) for a, b in ranges[1:]]
    try:
        first = fn(*ranges[0])
    finally:
        rest = [f.result() for f in futures]  # never return while a worker still writes
    return [first] + rest


def run_tasks(fn: Callable[[int], object], ntasks: int, num_threads: int | None) -> None:
    """Call ``fn(i)`` for every i in range(ntasks) on up to ``num_threads`` threads.

    Each thread takes the next task in order as soon as it is free (so uneven tasks balance out);
    ``fn`` must write its results to a place of its own and must not itself submit work to the pool
    (call kernels with one thread inside it). If tasks raise, no further task starts and
    the exception of the lowest-numbered failed task is raised, after every thread has stopped.
    """
    nthreads = min(resolve_threads(num_threads), ntasks)
    if nthreads <= 1:
        for i in range(ntasks):
            fn(i)
        return
    tasks, take = iter(range(ntasks)), threading.Lock()
    errors: list[tuple[int, BaseException]] = []

    def worker() -> None:
        while not errors:
            with take:
                i = next(tasks, None)
            if i is None:
                return
            try:
                fn(i)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller
                errors.append((i, exc))

    pool = _get_pool(nthreads - 1)
    futures = [pool.submit(worker) for _ in range(nthreads - 1)]
    try:
        worker()  # the caller's thread works too
    finally:
        for f in futures:
            f.result()
    if errors:
        raise min(errors, key=lambda e: e[0])[1]

