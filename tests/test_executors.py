"""The process-pool and Ray executors give the same stored results as training in-process."""

import pytest
from helpers import TINY, exit_code, stored_results


@pytest.fixture(scope="module")
def inline(tiny_suite_run):
    """The seed-0 runs of the session's tiny suite, trained in-process: the runs of a one-seed suite."""
    runs = stored_results(tiny_suite_run[0] / "r" / "runs", seed=0)  # run folders, under the one cache
    assert len(runs) == 16, sorted(runs)
    return runs


def test_process_pool_gives_the_in_process_results(inline, tmp_path):
    assert exit_code(["run", "--suite", "ablations", *TINY, "--seeds", "1", "--executor", "process", "--jobs", "2",
                      "--no-report", "--results", tmp_path]) == 0
    assert stored_results(tmp_path / "runs") == inline


def test_ray_tasks_on_a_local_instance_give_the_in_process_results(inline, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        assert exit_code(["run", "--suite", "ablations", *TINY, "--seeds", "1", "--executor", "ray",
                          "--no-report", "--results", tmp_path]) == 0
    finally:
        ray.shutdown()
    assert stored_results(tmp_path / "runs") == inline
