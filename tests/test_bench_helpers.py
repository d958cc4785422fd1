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


def test_an_unfinished_run_of_an_equal_config_is_resumed_only_when_asked(tmp_path, corpus, capsys):
    args = [f"--data.path={corpus}", *TINY, "--loop.max_steps=2", "--loop.save_every=1"]
    out = tmp_path / "run"
    trainrun.train_run("char-lm", out, args)
    (out / "metrics.json").unlink()  # as if stopped before the end, with its checkpoint kept
    assert trainrun.resumable_run(out, trainrun.recipe_config("char-lm", args))
    assert not trainrun.resumable_run(out, trainrun.recipe_config("char-lm", [*args, "--optim.lr=0.0123"]))
    again, _ = trainrun.train_run("char-lm", out, args, resume=True)
    assert again["step"] == 2 and "[resume]" in capsys.readouterr().out
    (out / "metrics.json").unlink()
    trainrun.train_run("char-lm", out, args)  # not asked: trained again from scratch
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


def test_preset_budgets_are_read_from_the_recipes_and_scaled_alike(monkeypatch):
    from dataclasses import replace

    from tzoo.recipes import get_recipe
    from tzoo.recipes.optim import lr_at

    import multitask_budget as mb

    names = ["char-lm", "vit-cifar10"]
    full, tenth = mb.preset_plan(names, 1.0), mb.preset_plan(names, 0.1)
    for name in names:
        cfg = get_recipe(name).default()
        assert full[name] == {"steps": cfg.loop.max_steps, "warmup": cfg.optim.warmup_steps,
                              "eval_every": cfg.loop.eval_every, "save_every": cfg.loop.save_every}
        assert tenth[name]["steps"] == round(cfg.loop.max_steps / 10)
        assert tenth[name]["warmup"] == round(cfg.optim.warmup_steps / 10)
        # the same learning rate at the same fraction of the run, full budget or a tenth
        small = replace(cfg.optim, warmup_steps=tenth[name]["warmup"])
        for f in (0.025, 0.3, 0.7, 0.99):
            assert lr_at(round(f * tenth[name]["steps"]), small, tenth[name]["steps"]) == pytest.approx(
                lr_at(round(f * full[name]["steps"]), cfg.optim, full[name]["steps"]), rel=0.1), (name, f)
    assert mb.preset_plan(["char-lm"], 0.0001)["char-lm"]["steps"] == 1  # never zero steps

    recipe = get_recipe("char-lm")  # a preset that changes is followed, not a number kept here
    first = next(iter(recipe.presets))
    base = recipe.default()
    longer = lambda: replace(base, loop=replace(base.loop, max_steps=1234))  # noqa: E731
    monkeypatch.setitem(recipe.presets, first, longer)
    assert mb.preset_plan(["char-lm"], 0.5)["char-lm"]["steps"] == 617

    joint = mb.joint_args(tenth)
    total = tenth["char-lm"]["steps"] + tenth["vit-cifar10"]["steps"]
    assert f"--loop.max_steps={total}" in joint
    assert f"--tasks.batches=char-lm:{tenth['char-lm']['steps']},vit-cifar10:{tenth['vit-cifar10']['steps']}" in joint
    assert f"--optim.warmup_steps={tenth['char-lm']['warmup'] + tenth['vit-cifar10']['warmup']}" in joint
    assert "--tasks.lr=own" in joint
    assert f"--loop.max_steps={tenth['vit-cifar10']['steps']}" in mb.single_args(tenth["vit-cifar10"])


def test_preset_targets_pass_and_fail():
    import multitask_budget as mb

    table = {"a": {"joint": 0.80, "single": 0.83, "higher_is_better": True},   # 3.6% worse: met
             "b": {"joint": 2.20, "single": 2.00, "higher_is_better": False}}  # 10% worse: not met
    t = mb.targets(table, {"joint": 10.0, "singles": 12.0}, {"joint": 100, "singles": 90})
    assert t["tasks"]["a"]["met"] and not t["tasks"]["b"]["met"]
    assert t["wall"] and not t["bytes"] and not t["all"]
    t = mb.targets({"a": table["a"]}, {"joint": 12.5, "singles": 12.0}, {"joint": 90, "singles": 90})
    assert not t["wall"] and t["bytes"] and not t["all"]
    assert mb.targets({"a": table["a"]}, {"joint": 12.0, "singles": 12.0}, {"joint": 90, "singles": 90})["all"]
