"""Recipes learn: briefly trained tiny runs must beat what a model that ignores its input can reach.

Each bound is derived from the data (the gap between behaviours' returns, the chance of a
question), not from a measured run, and every run is seeded and on one thread, so it does not flake.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tzoo
from tests.audio_fixtures import fake_fsdd
from tests.mixing.conftest import write_mnist_parquet
from tests.recipes.lever import write_lever_dataset

LEVER = "test/lever/mixed-v0"
DT_SHAPE = ["--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=1", "--backbone.dropout=0",
            "--loop.batch_size=16", "--loop.eval_batches=2", "--optim.warmup_steps=10", "--optim.lr=3e-3",
            "--data.context=10", "--eval.select_episodes=0", "--eval.episodes=2", "--eval.num_envs=2"]


def train(recipe: str, out: Path, *args: str) -> dict:
    """`tzoo train RECIPE ARGS --out OUT` in-process on one thread; its metrics.json."""
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures train before any per-test fixture
    try:
        assert main(["train", recipe, "--out", str(out), *args]) == 0
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def lever(tmp_path_factory):
    """The lever dataset in a private Minari root: (mean return of `rest`, mean return of `pull`)."""
    from tzoo.control.episodes import load_episodes

    root = tmp_path_factory.mktemp("minari")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        which = write_lever_dataset(LEVER, episodes_per_behaviour=20)
        returns = load_episodes(LEVER).returns
        yield tuple(float(np.mean(returns[which[name]])) for name in ("rest", "pull"))


def lever_run(kind: str, steps: int, targets: tuple[float, float], out: Path) -> tuple[dict, dict]:
    """A `kind` run on the lever data scored at (low, high) targets: its two rows of returns."""
    metrics = train("dt", out, f"--data.dataset={LEVER}", f"--task.kind={kind}", f"--loop.max_steps={steps}",
                    f"--loop.eval_every={steps}", f"--eval.targets={targets[0]},{targets[1]}", *DT_SHAPE)
    low, high = metrics["targets"]
    assert (low["target"], high["target"]) == targets
    return low, high


def test_dt_reaches_the_return_it_is_asked_for(lever, tmp_path):
    """Conditioned on the low behaviour's mean return, then the high one's, a briefly trained DT acts
    differently: the high target earns at least half the gap between the behaviours more. BC, which
    never sees the target, acts the same for both."""
    rest, pull = lever
    assert pull - rest > 5  # the data has two clearly different behaviours (mean pulls of 20 steps)
    margin = 0.5 * (pull - rest)
    low, high = lever_run("dt", 150, (rest, pull), tmp_path / "dt")
    assert high["return_mean"] - low["return_mean"] >= margin, (low, high, margin)

    low, high = lever_run("bc", 20, (rest, pull), tmp_path / "bc")
    assert low["return_mean"] == high["return_mean"] and low["return_std"] == high["return_std"]


AV_SHAPE = ["--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2", "--loop.batch_size=32",
            "--loop.max_steps=150", "--loop.eval_every=150", "--optim.warmup_steps=10", "--optim.lr=6e-3",
            "--augment.rotate=0", "--augment.scale=0", "--augment.translate=0", "--mel.n_mels=20",
            "--data.max_seconds=1.0", "--data.val_images=100", "--data.carve_test=200", "--data.eval_examples=20",
            "--data.test_examples=200", "--data.kinds=written"]


def test_av_digits_reads_the_written_digit_from_the_image(tmp_path):
    """Asked which digit is written, a briefly trained run answers far above the best answer that
    ignores the image (the test examples' most frequent digit), and falls to about that with the
    image removed (audio only: the clip is of an independent digit)."""
    from tzoo.modalities.av_digits import eval_examples
    from tzoo.recipes.av_digits import sides_of

    write_mnist_parquet(tmp_path / "mnist", "test", [i % 10 for i in range(1200)])  # gray 20 * digit + 10
    fsdd = fake_fsdd(tmp_path / "rec", indices=(0, 5, 10, 11), speakers=("ann",))
    out = tmp_path / "run"
    metrics = train("av-digits", out, f"--data.mnist_dir={tmp_path / 'mnist'}", f"--data.fsdd_dir={fsdd}", *AV_SHAPE)

    cfg = tzoo.load(out).cfg
    written = eval_examples(sides_of(cfg).test, cfg.data.test_examples, 0, ("written",)).written
    chance = float(torch.bincount(written, minlength=10).max()) / len(written)
    assert chance < 0.2  # ten digits, drawn uniformly
    acc = metrics["acc"]["written"]
    assert acc["both"] >= chance + 0.3 and acc["image_only"] >= chance + 0.3, (acc, chance)
    assert acc["audio_only"] <= chance + 0.1, (acc, chance)
