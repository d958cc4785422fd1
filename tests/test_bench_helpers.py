"""Benchmark helpers: a kept run is reused only when trained with the same config; the multitask
benchmark's single-task runs follow the joint run's learning-rate schedule shape."""
import math
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import trainrun  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_finished_run_is_reused_only_with_an_equal_config(tmp_path, corpus, capsys):
    args = [f"--data.path={corpus}", *TINY, "--loop.max_steps=2"]
    out = tmp_path / "run"
    first, wall = trainrun.train_run("char-lm", out, args)
    assert first["step"] == 2 and not math.isnan(wall)
    again, wall = trainrun.train_run("char-lm", out, args)
    assert again == first and math.isnan(wall)  # reused
    assert "[reuse]" in capsys.readouterr().out
    longer, wall = trainrun.train_run("char-lm", out, [*args, "--loop.max_steps=3"])
    assert longer["step"] == 3 and not math.isnan(wall)  # another --steps: trained again, not the old run
    assert "[retrain]" in capsys.readouterr().out


def test_the_reuse_rule(tmp_path, corpus):
    """finished_run: equal digest and every step done; any other key, a missing file or a short run: None."""
    from tzoo.recipes.rundir import RunDir

    cfg = trainrun.recipe_config("char-lm", [f"--data.path={corpus}", *TINY, "--loop.max_steps=4"])
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    assert trainrun.finished_run(run.path, cfg) is None  # nothing there
    run.save_config("char-lm", cfg)
    assert trainrun.finished_run(run.path, cfg) is None  # no metrics.json: unfinished
    run.save_metrics({"step": 4, "val_bpc": 3.0})
    assert trainrun.finished_run(run.path, cfg) == {"step": 4, "val_bpc": 3.0}
    other = trainrun.recipe_config("char-lm", [f"--data.path={corpus}", *TINY, "--loop.max_steps=4",
                                                "--optim.lr=0.0123"])
    assert trainrun.finished_run(run.path, other) is None  # another setting
    run.save_metrics({"step": 3, "val_bpc": 3.0})
    assert trainrun.finished_run(run.path, cfg) is None  # stopped short of max_steps


def test_the_dt_benchmark_uses_the_same_rule():
    pytest.importorskip("gymnasium")
    import dt

    assert dt.finished_run is trainrun.finished_run and dt.config_digest is trainrun.config_digest


def test_single_task_runs_warm_up_for_the_joint_run_s_fraction():
    from tzoo.recipes.optim import lr_at
    from tzoo.recipes.settings import OptimConfig

    import multitask

    assert multitask.single_warmup(200, 2500, 500) == 40  # 8% of either run, not 200 of 500
    joint, steps = OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=200), 498
    single = OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=multitask.single_warmup(200, 2500, steps))
    for fraction in (0.02, 0.05, 0.2, 0.5, 0.8, 0.99):  # the same learning rate at the same fraction of each run
        assert lr_at(round(fraction * steps), single, steps) == pytest.approx(lr_at(round(fraction * 2500), joint, 2500),
                                                                              rel=0.1), fraction
