"""Shared fixtures: an offline, isolated environment and a small text corpus."""
from __future__ import annotations

import importlib
import os
import random
from pathlib import Path

import pytest

from tzoo.cli import main
from tzoo.control.envs import EXTRAS


def pytest_configure(config):
    for extra, module in EXTRAS.items():
        config.addinivalue_line("markers", f"{extra}: needs {module} (pip extra tzoo[{extra}]); skipped without it")


def pytest_runtest_setup(item):
    """Skip a test marked `box2d` / `mujoco` when that module does not import; with
    TZOO_REQUIRE_EXTRAS=1 (the CI command) fail instead, so CI cannot quietly skip them."""
    for extra, module in EXTRAS.items():
        if item.get_closest_marker(extra) is None:
            continue
        try:
            importlib.import_module(module)
            continue
        except ImportError as e:
            reason = f"{module} is not installed ({e}): pip install \"tzoo[{extra}]\""
        if os.environ.get("TZOO_REQUIRE_EXTRAS") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def offline_env(tmp_path, monkeypatch):
    """No network, no user cache, no shared data unless a test asks for it."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TZOO_DATA", raising=False)
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="session", autouse=True)
def on_the_cpu():
    """Every test trains and evaluates on the CPU, also on a machine with a GPU: tests assert exact
    equality (resume = uninterrupted, saved = loaded, training's evaluation = `tzoo eval`), which
    holds on one device with deterministic kernels, not between a GPU-trained model and a CPU
    reload. ACCELERATE_USE_CPU makes accelerate pick the CPU in this process and in every
    subprocess; CUDA_VISIBLE_DEVICES="" hides the GPU from subprocesses (torchrun included) and from
    this process while CUDA is not yet initialised. Session-scoped, so the runs that module-scoped
    fixtures train are pinned too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCELERATE_USE_CPU", "1")
        mp.setenv("CUDA_VISIBLE_DEVICES", "")
        yield


@pytest.fixture
def one_thread():
    """Tiny models are fastest on one thread (and immune to other processes' load on the cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus_text() -> str:
    """About 20 kB of pseudo-English with a fixed seed."""
    rng = random.Random(0)
    words = ["the", "king", "queen", "shall", "love", "and", "not", "of", "my", "lord", "thou", "art",
             "what", "is", "a", "good", "night", "sweet", "prince", "to", "be", "or"]
    lines = []
    for _ in range(800):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize() + ".")
    return "\n".join(lines) + "\n"


@pytest.fixture
def corpus(tmp_path, corpus_text) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(corpus_text, encoding="utf-8")
    return path


TINY = ["--backbone.dim=32", "--backbone.depth=2", "--backbone.heads=2", "--data.block_size=16",
        "--loop.batch_size=4", "--loop.eval_every=2", "--loop.eval_batches=2", "--loop.log_every=1",
        "--optim.warmup_steps=2", "--sample.max_new_tokens=20"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `tzoo ARGS` in-process; returns (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_image_parquet(folder: Path, split: str, labels: list[int], size: int = 16,
                        corrupt: tuple[int, ...] = (), sizes: dict | None = None) -> Path:
    """A parquet file with the CIFAR-10 schema (img: Image, label: ClassLabel) that the tests own.

    Image i is a flat colour that encodes its label (red channel = 20 * label), so tests can
    check that augmentation keeps images and labels together. Records in `corrupt` get bytes
    that are not an image; `sizes` maps record index -> another side length.
    """
    import io

    import datasets
    from PIL import Image

    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    records = []
    for i, label in enumerate(labels):
        side = (sizes or {}).get(i, size)
        buf = io.BytesIO()
        Image.new("RGB", (side, side), (20 * label, 100, (37 * i) % 256)).save(buf, format="PNG")
        data = b"this is not an image" if i in corrupt else buf.getvalue()
        records.append({"bytes": data, "path": None})
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    ds = datasets.Dataset.from_dict({"img": records, "label": labels}, features=features)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}-00000-of-00001.parquet"
    ds.to_parquet(str(path))
    return path


@pytest.fixture
def cifar_dir(tmp_path) -> Path:
    """A tiny CIFAR-like dataset: 60 train and 20 test images of 16x16 pixels."""
    folder = tmp_path / "cifar"
    write_image_parquet(folder, "train", [i % 10 for i in range(60)])
    write_image_parquet(folder, "test", [i % 10 for i in range(20)])
    return folder
