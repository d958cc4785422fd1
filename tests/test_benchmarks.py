"""The benchmarks compare like with like: what each figure counts and which episodes it is scored on."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark(name: str):
    """benchmarks/NAME.py as a module (the folder is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(BENCHMARKS) not in sys.path:  # the scripts import their sibling helpers (trainrun)
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_vit_cifar10_counts_epochs_over_the_images_it_trains_on():
    vit = benchmark("vit_cifar10")
    cfg = {"loop": {"batch_size": 128, "max_steps": 7000, "grad_accum": 1}, "data": {"val_size": 5000}}
    assert vit.epochs(cfg) == pytest.approx(128 * 7000 / 45_000)  # 19.9, not 17.9 over all 50,000
    cfg = {"loop": {"batch_size": 100, "max_steps": 10, "grad_accum": 4}, "data": {"val_size": 10_000}}
    assert vit.epochs(cfg) == pytest.approx(0.1)


def test_vit_throughput_readout_off_is_the_same_function_over_every_token():
    vt = benchmark("vit_throughput")
    torch.manual_seed(0)
    on = vt.tzoo_model(readout=True).eval()
    off = vt.tzoo_model(readout=False).eval()
    off.load_state_dict(on.state_dict())
    torch.nn.init.normal_(on.head().head.weight)  # the head starts at zero: make the logits tell
    off.head().head.weight.data.copy_(on.head().head.weight)
    rows = []
    for model in (on, off):
        forward = model.backbone.forward
        model.backbone.forward = lambda *a, _f=forward, **k: rows.append(k.get("rows")) or _f(*a, **k)
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        a, b = on({"image": x}).outputs["logits"], off({"image": x}).outputs["logits"]
    assert rows == [slice(0, 1, 1), None]  # on: the CLS row only; off: all 65 tokens, as timm
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_dt_report_seed_shares_no_start_with_any_choice():
    dt = benchmark("dt")
    data = {"seed": 0, "episodes": 700}  # a dataset collected from seed 0, as the benchmark's are
    assert dt.REPORT_SEED not in dt.LOOKED_AT_SEEDS
    assert dt.shared_starts(dt.REPORT_SEED, 50, 0, 25, data) == []
    assert dt.shared_starts(dt.REPORT_SEED, 50, 1, 25, data) == []
    seen = dt.shared_starts(0, 50, 0, 25, data)  # the former reporting seed
    assert "the runs' own scoring (eval seed 0)" in seen
    assert "evaluation seed 0, looked at while choosing settings" in seen
    assert dt.shared_starts(1, 50, 3, 25, data) == ["evaluation seed 1, looked at while choosing settings"]


def _quality(monkeypatch, report_seed: int) -> dict:
    """benchmarks/dt.py's quality() on one DT run with training, config and rollouts faked: the run's own
    scoring reads 10, the report seed's episodes 20 + the seed."""
    from types import SimpleNamespace

    dt = benchmark("dt")
    data = {"dataset": "tzoo/pendulum/sparse-v0", "ref_min": -1200.0, "ref_max": -160.0, "seed": 1, "episodes": 200}
    row = lambda score: {"target": -160.0, "return_mean": score, "return_std": 1.0, "episodes": 50,  # noqa: E731
                         "env_steps_per_s": 1.0, "normalized_score": score}
    asked = []

    def report(run, targets, args):
        asked.append(args.report_seed)
        return {"targets": [row(20.0 + args.report_seed)], "report_s": 0.1}

    cfg = SimpleNamespace(eval=SimpleNamespace(targets=(-160.0,), seed=0, select_episodes=25),
                          loop=SimpleNamespace(batch_size=64), data=SimpleNamespace(context=1))
    monkeypatch.setattr(dt, "train_one", lambda *a: {"targets": [row(10.0)], "run": "RUN", "wall_s": 1.0})
    monkeypatch.setattr(dt, "run_config", lambda *a: (cfg, {}))
    monkeypatch.setattr(dt, "report_scores", report)
    args = argparse.Namespace(eval_seed=0, report_seed=report_seed, eval_episodes=50, tuning=False, docs=False,
                              steps=None, preset="cpu")
    fig = dt.quality(["pendulum-sparse"], ["dt"], {"pendulum-sparse": data}, args, {})["pendulum-sparse"]["dt"]
    assert asked == [report_seed]
    return fig


def test_dt_reports_the_report_seed(monkeypatch):
    fig = _quality(monkeypatch, 2)
    assert fig["normalized_score"] == 22.0 and fig["tuning_normalized_score"] == 10.0 and fig["seed"] == 2
    assert fig["held_out"]
    fig = _quality(monkeypatch, 0)  # a seed looked at while choosing settings
    assert fig["normalized_score"] == 20.0 and not fig["held_out"]


from tests.recipes.test_dt_recipe import cartpole_run, minari_root, one_thread, without_speed  # noqa: E402,F401


def test_dt_report_scores_a_real_run_on_the_report_seed(cartpole_run, tmp_path, monkeypatch):
    """The reported figures are the run's published (chosen) weights scored on --report-seed's episodes."""
    import shutil

    import tzoo
    from tzoo.control import evaluate
    from tzoo.modalities.streams import Stream

    dt = benchmark("dt")
    run = tmp_path / "dt"
    shutil.copytree(cartpole_run, run)
    args = argparse.Namespace(report_seed=5, eval_episodes=2)
    starts, real = [], evaluate.eval_seed
    monkeypatch.setattr(evaluate, "eval_seed", lambda seed, i, stream=Stream.ROLLOUT: starts.append(
        (seed, stream)) or real(seed, i, stream))
    got = dt.report_scores(str(run), (500.0,), args)
    assert got.pop("report_s") >= 0 and set(starts) == {(5, Stream.ROLLOUT)}  # the report seed's evaluation starts
    want = tzoo.load(run).evaluate({"eval.seed": "5", "eval.episodes": "2", "eval.targets": "500.0"})
    assert without_speed(got) == without_speed(want) and got["targets"][0]["episodes"] == 2
