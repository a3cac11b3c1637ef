"""Map a function over independent tasks on all local cores, or on a Dask cluster, with a progress bar.

`fn` must be a top-level function of an importable module (not one defined in a notebook): the local pool
starts fresh interpreters (forkserver/spawn, never fork, so a notebook kernel's threads and open handles are not
copied into workers), and a Dask cluster's workers import it by name (install this repo on them).
"""

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from tqdm import tqdm


def cpu_count() -> int:
    """Cores this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_tasks(fn: Callable, tasks: Iterable, *, workers: int = 0, scheduler: str = "", desc: str = "",
              progress: bool = True) -> list:
    """[fn(task) for task in tasks], computed in parallel; results in task order; the first error is raised.

    workers: local processes (0 = all cores; 1 = run in this process, which is easiest to debug).
    scheduler: a Dask scheduler address ("tcp://host:8786"); when set, `workers` is ignored.
    """
    tasks = list(tasks)
    bar = tqdm(total=len(tasks), desc=desc or getattr(fn, "__name__", "tasks"), disable=not progress,
               mininterval=0.5, smoothing=0.1)
    try:
        if scheduler:
            return _run_dask(fn, tasks, scheduler, bar)
        workers = min(workers or cpu_count(), len(tasks)) or 1
        if workers == 1:
            results = []
            for task in tasks:
                results.append(fn(task))
                bar.update()
            return results
        return _run_local(fn, tasks, workers, bar)
    finally:
        bar.close()


def _run_local(fn, tasks, workers, bar) -> list:
    results = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        pending = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    results[pending.pop(future)] = future.result()
                    bar.update()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results


def _run_dask(fn, tasks, scheduler, bar) -> list:
    from dask.distributed import Client, as_completed

    with Client(scheduler, set_as_default=False) as client:
        futures = client.map(fn, tasks, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        results = [None] * len(tasks)
        try:
            for future in as_completed(futures, loop=client.loop):
                results[index[future.key]] = future.result()
                bar.update()
        except BaseException:
            client.cancel(futures)
            raise
        return results
