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


def test_each_run_on_a_device_shares_one_copy_of_the_evaluator(digits_evaluator):
    import torch

    from bench.work import evaluator_on

    assert evaluator_on(None, "cpu") is None
    assert evaluator_on(digits_evaluator, "cpu") is digits_evaluator  # already there: no copy
    elsewhere = evaluator_on(digits_evaluator, "meta")  # a device it is not on, as a GPU for a CPU-kept one
    assert elsewhere is not digits_evaluator and next(elsewhere.net.parameters()).device == torch.device("meta")
    assert evaluator_on(digits_evaluator, "meta") is elsewhere  # copied once, not once a run
    assert next(digits_evaluator.net.parameters()).device == torch.device("cpu")  # the original stays put
