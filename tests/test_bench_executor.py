"""run_tasks: local worker processes (forkserver/spawn), in-process, and a Dask cluster on loopback; results in
task order whatever order they finish in; the first error is raised."""

import os
import time

import pytest

from resizer_bench.executor import run_tasks


def slow_square(x: int) -> tuple[int, int]:
    time.sleep(0.05 * (5 - x % 5))  # early tasks finish last
    return x * x, os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("task 3 failed")
    return x


def test_local_processes_keep_task_order():
    results = run_tasks(slow_square, range(8), workers=2, progress=False)
    assert [r for r, _ in results] == [x * x for x in range(8)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and len(pids) == 2


def test_one_worker_runs_in_this_process():
    results = run_tasks(slow_square, [1, 2], workers=1, progress=False)
    assert results == [(1, os.getpid()), (4, os.getpid())]


def test_errors_propagate():
    with pytest.raises(ValueError, match="task 3 failed"):
        run_tasks(fail_on_three, range(6), workers=2, progress=False)


def test_no_tasks():
    assert run_tasks(slow_square, [], progress=False) == []


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_dask_cluster_on_loopback(processes):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=processes, host="127.0.0.1", protocol="tcp",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        results = run_tasks(slow_square, range(6), scheduler=cluster.scheduler_address, progress=False)
        assert [r for r, _ in results] == [x * x for x in range(6)]
        with pytest.raises(ValueError, match="task 3 failed"):
            run_tasks(fail_on_three, range(5), scheduler=cluster.scheduler_address, progress=False)
