"""image-classify and audio-classify at tiny sizes on generated folders: they learn, split honestly,
budget in epochs, decode batch by batch under a cache limit with the same result, and predict on
every kind of input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tests.audio_fixtures import write_wav
from tests.conftest import run_cli
from tests.modalities.data_fixtures import class_folders
from tzoo.errors import TzooError

COLOURS = {"red": (210, 30, 30), "green": (30, 210, 30), "blue": (30, 30, 210)}
TONES = {"low": 300.0, "mid": 900.0, "high": 2000.0}
MODES = ("RGB", "RGBA", "P", "RGB")

TINY_IMAGE = ["--data.image_size=16", "--model.patch_size=4", "--model.stem=linear", "--backbone.dim=32",
              "--backbone.depth=1", "--backbone.heads=2", "--loop.batch_size=8", "--loop.log_every=1",
              "--optim.warmup_steps=1", "--optim.lr=3e-3"]
TINY_AUDIO = ["--mel.rate=8000", "--mel.n_fft=256", "--mel.win_length=200", "--mel.hop=80", "--mel.n_mels=20",
              "--mel.proj=linear", "--data.max_seconds=0.5", "--augment.speed=0", "--augment.shift=0",
              "--augment.noise_snr_db=0", "--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2",
              "--loop.batch_size=8", "--loop.log_every=1", "--optim.warmup_steps=1", "--optim.lr=3e-3"]


def colour_folders(root: Path, per_class: int = 16, seed: int = 0) -> Path:
    """root/<colour>/<i>.png: noisy flat colours of random sizes (12 to 23 px) and modes; the class is the colour."""
    rng = np.random.default_rng(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            side = int(rng.integers(12, 24))
            a = np.clip(np.array(rgb)[None, None] + rng.normal(0, 40, (side, side, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).convert(MODES[i % len(MODES)]).save(root / name / f"{i}.png")
    return root


def sine(freq: float, seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t) + np.random.default_rng(seed).normal(0, 0.02, len(t))).astype(np.float32)


def tone_folders(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """root/<pitch>/<i>.wav: a steady tone per class, 0.2 to 1.5 s (longer than the 0.5 s window), at
    8, 16 or 11.025 kHz, every fourth one stereo."""
    rng = np.random.default_rng(seed)
    for name, freq in TONES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rate = (8000, 16000, 11025)[i % 3]
            x = sine(freq, float(rng.uniform(0.2, 1.5)), rate, seed=i)
            write_wav(root / name / f"{i}.wav", np.stack([x, 0.5 * x], 1) if i % 4 == 0 else x, rate=rate)
    return root


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """One image-classify run on colour folders, budget in epochs, shared by the tests below."""
    from tzoo.cli import main

    root = tmp_path_factory.mktemp("img")
    data = colour_folders(root / "colours")
    code = main(["train", "image-classify", "--out", str(root / "run"), f"--data.dataset={data}",
                 "--data.test_fraction=0.25", "--loop.epochs=4", "--loop.eval_every=5", *TINY_IMAGE])
    assert code == 0
    return root / "run", data


def test_image_classify_learns_colours_and_records_its_splits(image_run):
    run, _ = image_run
    m = metrics(run)
    # 3 colours (chance 1/3): a few epochs of a tiny ViT learn them on the carved test split.
    assert m["test_acc"] >= 0.75 and m["test_examples"] == 12
    assert m["splits"]["test"] == {"size": 12, "from": "carved 25% of train, seed 0, stratified"}
    assert m["splits"]["validation"]["from"] == "carved 10% of train, seed 0, stratified"
    assert m["splits"]["train"]["size"] + m["splits"]["validation"]["size"] + 12 == 48
    assert "resized to 16x16" in m["data_notes"][0] and "RGBA -> RGB" in m["data_notes"][0]
    assert json.loads((run / "classes.json").read_text()) == ["blue", "green", "red"]
    cfg = json.loads((run / "config.json").read_text())["config"]["loop"]
    train = m["splits"]["train"]["size"]
    assert cfg["epochs"] == 4 and cfg["max_steps"] == m["step"] == -(-4 * train // 8)  # ceil(4 N / batch)


def test_image_predict_takes_every_kind_of_input(image_run, tmp_path, capsys):
    import tzoo

    run, data = image_run
    model = tzoo.load(run)
    blue = np.full((40, 30, 3), COLOURS["blue"], np.uint8)
    red_pil = Image.fromarray(np.full((9, 20, 3), COLOURS["red"], np.uint8)).convert("P")
    green_t = torch.tensor(COLOURS["green"], dtype=torch.float32)[:, None, None].expand(3, 24, 24) / 255
    results = model.predict([blue, red_pil, green_t, data / "red" / "0.png", str(data / "blue" / "1.png")], top_k=2)
    assert [r["top"][0][0] for r in results] == ["blue", "red", "green", "red", "blue"]
    assert results[0]["input"] == "<input 0>" and results[3]["input"] == str(data / "red" / "0.png")
    assert all(len(r["top"]) == 2 and r["top"][0][1] >= r["top"][1][1] for r in results)
    assert model.predict(blue)[0]["top"][0][0] == "blue"  # one input alone
    with pytest.raises(TzooError, match="resize"):
        model.predict(data / "red" / "0.png", resize=False)  # 12..23 px, the model takes 16
    with pytest.raises(Exception, match="no option 'k'"):
        model.predict(blue, k=3)
    with pytest.raises(Exception, match="not an image"):
        model.predict([np.zeros(5)])
    # the CLI: files print blocks, a folder prints one JSON line per file
    code, out, err = run_cli(capsys, "predict", run, data / "green")
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and len(lines) == 16 and sum(r["top"][0][0] == "green" for r in lines) >= 14, err


def test_audio_classify_learns_tones_with_windows(tmp_path, capsys):
    data = tone_folders(tmp_path / "tones")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "audio-classify", "--out", run, f"--data.dataset={data}",
                             "--data.test_fraction=0.25", "--loop.epochs=5", "--loop.eval_every=5", *TINY_AUDIO)
    assert code == 0, err
    m = metrics(run)
    assert m["test_acc"] >= 0.75 and m["test_examples"] == 9  # 3 pitches, chance 1/3
    assert "resampled 16000 -> 8000 Hz" in m["data_notes"][0] and "2-channel -> mono" in m["data_notes"][0]
    assert "budget: 5 epochs of" in out
    import tzoo

    model = tzoo.load(run)
    long_high = (sine(TONES["high"], 3.0, 44100), 44100)  # 6 windows of 0.5 s at another rate
    stereo_low = (torch.from_numpy(np.stack([sine(TONES["low"], 0.3, 22050)] * 2)), 22050)
    results = model.predict([long_high, stereo_low, data / "mid" / "1.wav"], top_k=3)
    assert [r["top"][0][0] for r in results] == ["high", "low", "mid"]
    assert abs(sum(p for _, p in results[0]["top"]) - 1) < 1e-4
    assert model.predict((long_high[0], np.int64(44100)))[0]["top"][0][0] == "high"  # one pair alone, a numpy rate
    with pytest.raises(Exception, match="not audio"):
        model.predict(np.zeros(100))
    code, out, err = run_cli(capsys, "predict", run, data / "low")
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and len(lines) == 12 and sum(r["top"][0][0] == "low" for r in lines) >= 10, err


def test_windowed_probabilities_average_the_windows():
    """A clip longer than the window is scored as the mean of its windows' probabilities."""
    from tzoo.modalities.clips import windows
    from tzoo.recipes.audio import AudioModelConfig
    from tzoo.recipes.audio_classify import AudioClassifyConfig, AudioData, windowed_probs
    from tzoo.recipes.base import build_model
    from tzoo.recipes.audio import audio_head
    from tzoo.backbone import BackboneConfig
    from tzoo.tokenizers.audio import MelConfig

    assert windows(10, 4) == [(0, 4), (4, 8), (6, 10)] and windows(3, 4) == [(0, 3)] and windows(8, 4) == [(0, 4), (4, 8)]
    cfg = AudioClassifyConfig(data=AudioData(max_seconds=0.25), mel=MelConfig(n_mels=20),
                              backbone=BackboneConfig(dim=16, depth=1, heads=2), model=AudioModelConfig())
    model = build_model(cfg.backbone, {"audio": audio_head(cfg, 3)}).eval()
    with torch.no_grad():
        model.head("audio").head.weight.normal_()
    clip = torch.randn(5000)
    size = cfg.max_samples()  # 2000 samples: windows 0-2000, 2000-4000, 3000-5000
    got = windowed_probs(model, [clip], [0], size, 2, 3, "audio")[0]
    each = [windowed_probs(model, [clip[a:b]], [0], size, 8, 3, "audio")[0] for a, b in windows(5000, size)]
    assert torch.allclose(got, torch.stack(each).mean(0), atol=1e-6)
    assert not torch.allclose(got, each[0], atol=1e-3)


@pytest.mark.parametrize("recipe", ["image-classify", "audio-classify"])
def test_cache_limit_gives_the_same_batches_and_run(recipe, tmp_path, capsys):
    """Over --data.cache_gb the rows decode batch by batch (with a worker decoding ahead): the batches,
    the weights and the figures are those of the in-memory run."""
    data = colour_folders(tmp_path / "d", per_class=6) if recipe == "image-classify" else tone_folders(tmp_path / "d", 5)
    tiny = TINY_IMAGE if recipe == "image-classify" else TINY_AUDIO
    args = ["--loop.max_steps=4", "--loop.eval_every=2", f"--data.dataset={data}", *tiny]
    if recipe == "audio-classify":
        args.append("--augment.speed=0.1")  # augmentation and random crops draw alike either way
    code, out, err = run_cli(capsys, "train", recipe, "--out", tmp_path / "mem", *args)
    assert code == 0, err
    code, out, err = run_cli(capsys, "train", recipe, "--out", tmp_path / "lazy", *args, "--data.cache_gb=1e-9",
                             "--loop.workers=1")
    assert code == 0, err
    assert "decoded batch by batch" in out
    a, b = load_file(str(tmp_path / "mem" / "model.safetensors")), load_file(str(tmp_path / "lazy" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = metrics(tmp_path / "mem"), metrics(tmp_path / "lazy")
    for key in ("val_acc", "val_loss", "test_acc", "test_loss", "splits"):
        assert ma[key] == mb[key], key


def test_lazy_batches_equal_cached_ones(tmp_path):
    from tzoo.modalities.clips import ClipBatches
    from tzoo.modalities.convert import AudioConverter, ImageConverter
    from tzoo.modalities.decoded import decode
    from tzoo.modalities.images import Augment, ImageBatches
    from tzoo.modalities.userdata import load_classification

    splits, _ = load_classification(colour_folders(tmp_path / "i", per_class=4), "image")
    mem, lazy = (decode(splits["train"], ImageConverter(16), gb) for gb in (4.0, 0.0))
    assert mem.cached is not None and lazy.cached is None
    make = lambda d: ImageBatches(d, d.labels, 4, 0, Augment(crop_padding=2, flip=True), 3)  # noqa: E731
    for i in (0, 3, 7):
        x, y = make(mem).batch(i), make(lazy).batch(i)
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["targets"], y["targets"])
    splits, _ = load_classification(tone_folders(tmp_path / "a", per_class=3), "audio")
    mem, lazy = (decode(splits["train"], AudioConverter(8000), gb) for gb in (4.0, 0.0))
    make = lambda d: ClipBatches(d, d.labels, 3, 0, 8000, None, 1000, 3, crop=True)  # noqa: E731
    for i in (0, 2, 5):
        x, y = make(mem).batch(i), make(lazy).batch(i)
        assert torch.equal(x["audio"]["wave"], y["audio"]["wave"]) and torch.equal(x["targets"], y["targets"])
        assert x["audio"]["lengths"].max() <= 1000  # long clips cropped to the window


def test_random_crop_moves_over_the_clip():
    from tzoo.modalities.clips import ClipBatches

    waves = [torch.arange(100, dtype=torch.float32)]
    starts = {float(ClipBatches(waves, torch.tensor([0]), 1, 0, 8000, None, 10, 1, crop=True).batch(i)["audio"]["wave"][0, 0])
              for i in range(20)}
    assert len(starts) > 5 and all(0 <= s <= 90 for s in starts)
    kept = ClipBatches(waves, torch.tensor([0]), 1, 0, 8000, None, 10, 1).batch(3)["audio"]["wave"]
    assert kept[0, 0] == 0  # without crop (audio-fsdd): the clip's start, as before


def test_splits_come_from_the_data_when_it_has_them(tmp_path, capsys):
    root = tmp_path / "split"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        class_folders(root / split, per_class=n)
    from tzoo.recipes.image_classify import ImageData
    from tzoo.recipes.yourdata import load_user_data

    d = ImageData(dataset=str(root), image_size=8)
    data = load_user_data(d, "image", d.converter())
    assert data.record == {"train": {"size": 12, "from": "train folder"},
                           "validation": {"size": 4, "from": "validation folder"},
                           "test": {"size": 6, "from": "test folder"}}
    assert "data: train 12 (train folder), validation 4 (validation folder), test 6 (test folder)" in capsys.readouterr().out
    (root / "test").rename(tmp_path / "elsewhere")  # no test split and --data.test_fraction=0: none
    data = load_user_data(ImageData(dataset=str(root), image_size=8, test_fraction=0.0), "image", d.converter())
    assert sorted(data.record) == ["train", "validation"]


def test_channels_come_from_the_data(tmp_path, capsys):
    """Greyscale images (8-bit and 16-bit) give a 1-channel model, recorded in the config; predict converts
    a colour input to it. --data.channels=3 overrides."""
    from tests.modalities.data_fixtures import image, save

    root = tmp_path / "grey"
    for c, name in enumerate(("dark", "light")):
        for i in range(6):
            save(image("I;16" if i % 3 == 0 else "L", (12, 12), 10 * c + i), root / name / f"{i}.png")
    code, out, err = run_cli(capsys, "train", "image-classify", "--out", tmp_path / "run", f"--data.dataset={root}",
                             "--loop.max_steps=2", "--loop.eval_every=2", *TINY_IMAGE)
    assert code == 0, err
    assert "greyscale images: 1 channel" in out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["data"]["channels"] == 1
    import tzoo

    model = tzoo.load(tmp_path / "run")
    assert model.model.tokenizer("image", "image").proj.in_features == 1 * 4 * 4
    assert len(model.predict([np.zeros((16, 16, 3), np.uint8)])) == 1
    for i in range(4):  # a few colour images: some land in the training split
        save(image("RGB", (12, 12), 90 + i), root / "dark" / f"colour{i}.png")
    code, out, err = run_cli(capsys, "train", "image-classify", "--out", tmp_path / "run2", f"--data.dataset={root}",
                             "--loop.max_steps=1", "--loop.eval_every=1", *TINY_IMAGE)
    assert code == 0, err
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["config"]["data"]["channels"] == 3


def test_no_test_split_trains_and_scores_validation(tmp_path, capsys):
    data = colour_folders(tmp_path / "d", per_class=4)
    code, out, err = run_cli(capsys, "train", "image-classify", "--out", tmp_path / "run", f"--data.dataset={data}",
                             "--data.test_fraction=0", "--loop.max_steps=2", "--loop.eval_every=2", *TINY_IMAGE)
    assert code == 0, err
    m = metrics(tmp_path / "run")
    assert "test_acc" not in m and sorted(m["splits"]) == ["train", "validation"]
    assert (tmp_path / "run" / "confusion.png").is_file()


def test_skip_bad_leaves_unreadable_files_out(tmp_path, capsys):
    data = colour_folders(tmp_path / "d", per_class=4)
    (data / "red" / "broken.png").write_bytes(b"not a png")
    code, out, err = run_cli(capsys, "train", "image-classify", "--out", tmp_path / "run", f"--data.dataset={data}",
                             "--data.skip_bad=true", "--loop.max_steps=2", "--loop.eval_every=2", *TINY_IMAGE)
    assert code == 0, err
    m = metrics(tmp_path / "run")
    skipped = sum(s.get("skipped", 0) for s in m["splits"].values())
    assert skipped == 1 and any("broken.png" in n for n in m["data_notes"])


def test_epochs_resolve_to_steps_capped_and_resume_keeps_them(tmp_path, capsys):
    from tzoo.recipes.settings import LoopConfig, resolve_epochs

    loop, note = resolve_epochs(LoopConfig(batch_size=8, epochs=2.5, max_steps=1000), 30, world=2)
    assert loop.max_steps == 5 and "= 5 steps" in note  # ceil(2.5 * 30 / 16)
    loop, note = resolve_epochs(LoopConfig(batch_size=8, grad_accum=2, epochs=100, max_steps=7), 30)
    assert loop.max_steps == 7 and "capped at --loop.max_steps=7" in note
    assert resolve_epochs(LoopConfig(max_steps=9), None) == (LoopConfig(max_steps=9), "")
    with pytest.raises(Exception, match="--loop.epochs"):
        resolve_epochs(LoopConfig(epochs=1), None)

    data = colour_folders(tmp_path / "d", per_class=4)  # 12 images: train 10 after carving 1 + 1
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "image-classify", "--out", run, f"--data.dataset={data}",
                             "--loop.epochs=1", "--loop.eval_every=100", *TINY_IMAGE)
    assert code == 0, err
    assert "budget: 1 epoch of 10 examples at 8 per step = 2 steps" in out and metrics(run)["step"] == 2
    # the saved config holds the steps: resume extends them without re-deriving them from the epochs
    code, out, err = run_cli(capsys, "train", "--resume", run, "--loop.max_steps=4")
    assert code == 0, err
    assert metrics(run)["step"] == 4 and "budget" not in out


def test_python_api_trains_and_returns_the_model(tmp_path):
    import tzoo

    data = colour_folders(tmp_path / "d", per_class=4)
    dotted = {a[2:].split("=")[0]: a.split("=", 1)[1] for a in TINY_IMAGE}
    model = tzoo.train("image-classify", out=tmp_path / "run", overrides=dotted, data__dataset=str(data),
                       loop__max_steps=2, loop__eval_every=2)
    assert model.verbs == ("predict",) and model.artefacts["class_names"] == ["blue", "green", "red"]
    assert metrics(tmp_path / "run")["step"] == 2
    assert len(model.predict([np.zeros((16, 16, 3), np.uint8)])[0]["top"]) == 3
    with pytest.raises(Exception, match="--loop.epoch"):
        tzoo.train("image-classify", out=tmp_path / "other", data__dataset=str(data), loop__epoch=3)


def test_list_shows_both(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "image-classify" in out and "audio-classify" in out


def test_eval_batches_score_the_leading_rows_without_copying(tmp_path):
    """Periodic evaluation scores the leading rows: images and targets stay paired, and a lazily decoded
    split decodes only those rows."""
    from tzoo.modalities.convert import ImageConverter
    from tzoo.modalities.decoded import decode
    from tzoo.modalities.images import eval_batches
    from tzoo.modalities.userdata import load_classification

    splits, _ = load_classification(colour_folders(tmp_path / "i", per_class=4), "image")
    lazy = decode(splits["train"], ImageConverter(16), 0.0)
    read = []
    rows = lazy.table.rows
    lazy.table.rows = type("Counting", (), {"read": lambda self, i: read.append(i) or rows.read(i),
                                           "name": lambda self, i: rows.name(i), "__len__": lambda self: len(rows)})()
    batches = list(eval_batches(lazy, lazy.labels[:5], 4))
    assert [len(b["image"]) for b in batches] == [len(b["targets"]) for b in batches] == [4, 1]
    assert sorted(read) == [0, 1, 2, 3, 4]


def test_parquet_folder_with_its_own_test_split(tmp_path, capsys):
    """A parquet folder (the Hub's layout, Image + ClassLabel columns): its test split is used, validation carved."""
    from tests.conftest import write_image_parquet

    folder = tmp_path / "pq"
    write_image_parquet(folder, "train", [i % 10 for i in range(40)])
    write_image_parquet(folder, "test", [i % 10 for i in range(10)])
    code, out, err = run_cli(capsys, "train", "image-classify", "--out", tmp_path / "run", f"--data.dataset={folder}",
                             "--data.val_fraction=0.25", "--loop.max_steps=2", "--loop.eval_every=2", *TINY_IMAGE)
    assert code == 0, err
    splits = metrics(tmp_path / "run")["splits"]
    assert splits["test"] == {"size": 10, "from": f"test split of {folder}"}
    assert splits["validation"] == {"size": 10, "from": "carved 25% of train, seed 0, stratified"}
    assert splits["train"]["size"] == 30 and len(json.loads((tmp_path / "run" / "classes.json").read_text())) == 10
