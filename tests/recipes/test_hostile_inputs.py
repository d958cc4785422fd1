"""Hostile input across every recipe, as a table: each case must end in one line
`tzoo: error: ...` naming the culprit, exit status 2, no traceback and no run directory left behind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import fake_fsdd, tone, write_wav
from tests.conftest import run_cli, write_image_parquet
from tests.test_cli import assert_clean_error

TINY = ["--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2", "--loop.batch_size=4",
        "--loop.max_steps=2", "--loop.eval_every=2", "--loop.eval_batches=1"]
HUGE = str(10 ** 12)


def corpus(root: Path) -> list[str]:
    path = root / "corpus.txt"
    path.write_text("What light through yonder window breaks?\n" * 60, encoding="utf-8")
    return [f"--data.path={path}", "--data.block_size=16"]


def empty_corpus(root: Path) -> list[str]:
    (root / "empty.txt").write_bytes(b"")
    return [f"--data.path={root / 'empty.txt'}", "--data.block_size=16"]


def text_parquet(root: Path, columns: dict) -> Path:
    import datasets

    (root / "pq").mkdir()
    datasets.Dataset.from_dict(columns).to_parquet(str(root / "pq" / "train-00000-of-00001.parquet"))
    return root / "pq"


def no_txt_folder(root: Path) -> list[str]:
    (root / "notes").mkdir()
    (root / "notes" / "notes.md").write_text("What light through yonder window breaks?\n" * 60, encoding="utf-8")
    return [f"--data.dataset={root / 'notes'}", "--data.block_size=16"]


def empty_dataset(root: Path) -> list[str]:
    (root / "empty.txt").write_bytes(b"")
    return [f"--data.dataset={root / 'empty.txt'}", "--data.block_size=16"]


def uncached_hub_id(root: Path) -> list[str]:
    return ["--data.dataset=nobody/no-such-corpus", "--data.block_size=16"]


def numbers_parquet(root: Path) -> list[str]:
    return [f"--data.dataset={text_parquet(root, {'id': list(range(50)), 'score': [0.5] * 50})}",
            "--data.block_size=16"]


def text_parquet_args(root: Path) -> list[str]:
    return [f"--data.dataset={text_parquet(root, {'text': ['What light through yonder window breaks?'] * 60})}",
            "--data.block_size=16"]


def images(root: Path) -> list[str]:
    write_image_parquet(root / "cifar", "train", [i % 10 for i in range(20)])
    write_image_parquet(root / "cifar", "test", [i % 10 for i in range(10)])
    return [f"--data.dir={root / 'cifar'}", "--data.image_size=16", "--data.val_size=10"]


def empty_parquet(root: Path) -> list[str]:
    args = images(root)
    for path in (root / "cifar").glob("train-*.parquet"):
        path.write_bytes(b"")
    return args


def clips(root: Path) -> list[str]:
    return [f"--data.dir={fake_fsdd(root / 'rec', indices=(0, 5, 7), speakers=('ann', 'bob'))}",
            "--mel.n_mels=20", "--data.max_seconds=1.0", "--data.val_indices=7,7"]


def nan_clips(root: Path) -> list[str]:
    """Every training clip of one speaker is float WAV full of NaN: 10 of 20 files, far above 5%."""
    args = clips(root)
    for d in range(10):
        x = tone(d)
        x[::7] = np.nan
        write_wav(root / "rec" / f"{d}_ann_5.wav", x, subtype="FLOAT")
    return args


def empty_clips(root: Path) -> list[str]:
    args = clips(root)
    for path in (root / "rec").glob("*_5.wav"):
        path.write_bytes(b"")
    return args


def digits(root: Path) -> list[str]:
    """av-digits data: MNIST-shaped parquet and FSDD-shaped recordings."""
    from tests.mixing.conftest import write_mnist_parquet

    write_mnist_parquet(root / "mnist", "test", [i % 10 for i in range(1200)])
    rec = fake_fsdd(root / "rec", indices=(0, 5, 10), speakers=("ann",))
    return [f"--data.mnist_dir={root / 'mnist'}", f"--data.fsdd_dir={rec}", "--mel.n_mels=20",
            "--data.max_seconds=1.0", "--data.val_images=100", "--data.carve_test=200", "--data.eval_examples=4",
            "--data.test_examples=4"]


def no_mnist(root: Path) -> list[str]:
    return [*digits(root), f"--data.mnist_dir={root / 'nowhere'}"]


def text_only(root: Path) -> list[str]:
    path = root / "corpus.txt"
    path.write_text("What light through yonder window breaks?\n" * 60, encoding="utf-8")
    return ["--tasks.names=char-lm", f"--char_lm.data.path={path}", "--char_lm.data.block_size=16"]


def user_images(root: Path) -> list[str]:
    """image-classify data: class folders of small PNGs."""
    from tests.modalities.data_fixtures import class_folders

    class_folders(root / "photos", per_class=5)
    return [f"--data.dataset={root / 'photos'}", "--data.image_size=8", "--model.patch_size=4", "--model.stem=linear"]


def one_class(root: Path) -> list[str]:
    args = user_images(root)
    import shutil

    shutil.rmtree(root / "photos" / "dog")
    return args


def broken_image(root: Path) -> list[str]:
    args = user_images(root)
    (root / "photos" / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    return args


def loose_image(root: Path) -> list[str]:
    args = user_images(root)
    (root / "photos" / "cat" / "0.png").rename(root / "photos" / "stray.png")
    return args


def user_parquet(root: Path) -> list[str]:
    """image-classify on a parquet folder (CIFAR-10's schema)."""
    images(root)
    return [f"--data.dataset={root / 'cifar'}", "--data.image_size=8", "--model.patch_size=4", "--model.stem=linear"]


def user_clips(root: Path) -> list[str]:
    """audio-classify data: class folders of short WAVs."""
    from tests.modalities.data_fixtures import wav_folders

    wav_folders(root / "sounds", per_class=5)
    return [f"--data.dataset={root / 'sounds'}", "--mel.n_mels=20", "--data.max_seconds=0.5", "--augment.speed=0",
            "--augment.noise_snr_db=0", "--augment.shift=0"]


def not_a_wav(root: Path) -> list[str]:
    args = user_clips(root)
    (root / "sounds" / "two" / "fake.wav").write_bytes(b"RIFF but not a wave file at all")
    return args


def metadata_missing_file(root: Path) -> list[str]:
    args = user_clips(root)
    (root / "sounds" / "metadata.csv").write_text("file_name,label\none/0.wav,one\none/gone.wav,two\n")
    return args


def qa_manifest(root: Path, edit=None, test_edit=None) -> list[str]:
    """A qa manifest of 8 training rows and 2 test rows; `edit(rows)` / `test_edit(rows)` spoil them."""
    from tests.recipes.qa_fixtures import colour_rows, write_rows

    data = root / "qa"
    train, test = colour_rows(data, 8), colour_rows(data, 2, start=100)
    for rows, change in ((train, edit), (test, test_edit)):
        if change is not None:
            change(rows)
    write_rows(data / "train.jsonl", train)
    write_rows(data / "test.jsonl", test)
    return [f"--data.dataset={data}", "--data.image_size=8", "--model.patch_size=4"]


def qa_spoilt(**rows):
    """qa data whose training row 3 (manifest line 4) gets `rows` (None deletes the key)."""
    def spoil(train):
        for key, value in rows.items():
            train[3].pop(key) if value is None else train[3].update({key: value})
    return lambda root: qa_manifest(root, spoil)


def qa_not_json(root: Path) -> list[str]:
    args = qa_manifest(root)
    path = root / "qa" / "train.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = lines[4][:-1]  # line 5 loses its closing brace
    path.write_text("\n".join(lines) + "\n")
    return args


def qa_test_audio(root: Path) -> list[str]:
    """The training rows are images only; test row 2 brings a clip."""
    from tests.audio_fixtures import tone, write_wav

    def add_clip(test):
        test[1]["audio"] = write_wav(root / "qa" / "t.wav", tone(1)).name
    return qa_manifest(root, test_edit=add_clip)


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch) -> Path:
    """The dt cases make their Minari datasets in a private root (MINARI_DATASETS_PATH)."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def write_episodes(dataset_id: str, episodes: int = 4, steps: int = 6, nan_reward: bool = False,
                   nan_obs: bool = False) -> list[str]:
    """A CartPole-shaped Minari dataset (with CartPole-v1 as its environment); one value of the
    third episode's rewards or observations NaN if asked."""
    import warnings

    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buffers = []
    for k in range(episodes):
        obs = [np.full(4, (k + i) / 100, np.float32) for i in range(steps + 1)]
        rewards = [1.0] * steps
        if k == 2 and nan_obs:
            obs[3][1] = np.nan
        if k == 2 and nan_reward:
            rewards[4] = float("nan")
        buffers.append(EpisodeBuffer(observations=obs, actions=[i % 2 for i in range(steps)], rewards=rewards,
                                     terminations=[False] * (steps - 1) + [True], truncations=[False] * steps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(dataset_id, buffers, env="CartPole-v1", algorithm_name="test",
                                           author="test", description="test")
    return [f"--data.dataset={dataset_id}", "--data.context=4", "--eval.episodes=1", "--eval.max_steps=5"]


def episodes(root: Path) -> list[str]:
    return write_episodes("test/cartpole/toy-v0")


def missing_dataset(root: Path) -> list[str]:
    write_episodes("test/cartpole/toy-v0")
    return ["--data.dataset=test/cartpole/nope-v0"]


def nan_rewards(root: Path) -> list[str]:
    return write_episodes("test/cartpole/nanr-v0", nan_reward=True)


def nan_observations(root: Path) -> list[str]:
    return write_episodes("test/cartpole/nano-v0", nan_obs=True)


def one_episode(root: Path) -> list[str]:
    return write_episodes("test/cartpole/one-v0", episodes=1)


# (recipe, data, extra arguments, what the error line must name)
CASES = {
    # empty files
    "char-lm/empty-corpus": ("char-lm", empty_corpus, [], ["empty.txt", "empty"]),
    "bpe-lm/empty-corpus": ("bpe-lm", empty_corpus, [], ["empty.txt", "empty"]),
    "vit/empty-parquet": ("vit-cifar10", empty_parquet, [], ["train-00000-of-00001.parquet"]),
    "audio/empty-wavs": ("audio-fsdd", empty_clips, [], ["20 training files"]),
    # wrong types
    "char-lm/int-as-word": ("char-lm", corpus, ["--loop.batch_size=many"], ["--loop.batch_size", "many"]),
    "bpe-lm/float-for-int": ("bpe-lm", corpus, ["--data.vocab_size=300.5"], ["--data.vocab_size"]),
    "vit/bad-choice": ("vit-cifar10", images, ["--model.pool=max"], ["--model.pool", "max"]),
    "vit/zero-train-fraction": ("vit-cifar10", images, ["--data.train_fraction=0"], ["--data.train_fraction", "(0, 1]"]),
    "audio/big-train-fraction": ("audio-fsdd", clips, ["--data.train_fraction=1.5"], ["--data.train_fraction", "1.5"]),
    "audio/word-for-float": ("audio-fsdd", clips, ["--optim.lr=fast"], ["--optim.lr", "fast"]),
    # NaN and infinite values
    "char-lm/nan-lr": ("char-lm", corpus, ["--optim.lr=nan"], ["--optim.lr", "nan"]),
    "vit/inf-clip": ("vit-cifar10", images, ["--optim.grad_clip=inf"], ["--optim.grad_clip"]),
    "audio/nan-wavs": ("audio-fsdd", nan_clips, [], ["10 of 20 training files", "_ann_5.wav"]),
    "audio/nan-mixup": ("audio-fsdd", clips, ["--augment.mixup=nan"], ["--augment.mixup"]),
    "char-lm/ema-decay-one": ("char-lm", corpus, ["--optim.ema_decay=1"], ["--optim.ema_decay", "[0, 1)"]),
    # huge values
    "char-lm/huge-dim": ("char-lm", corpus, [f"--backbone.dim={HUGE}", f"--backbone.heads={HUGE}"],
                         ["--backbone.dim", "memory"]),
    "bpe-lm/huge-block": ("bpe-lm", corpus, [f"--data.block_size={HUGE}"], ["block"]),
    "vit/huge-batch": ("vit-cifar10", images, [f"--loop.batch_size={HUGE}"], ["--loop.batch_size", "memory"]),
    "audio/huge-clip": ("audio-fsdd", clips, [f"--data.max_seconds={HUGE}"], ["--data.max_seconds"]),
    # wrong shapes
    "char-lm/heads-vs-dim": ("char-lm", corpus, ["--backbone.heads=3"], ["divisible"]),
    "vit/patch-vs-image": ("vit-cifar10", images, ["--model.stem=linear", "--model.patch_size=5"],
                           ["--model.patch_size", "16"]),
    "vit/image-size": ("vit-cifar10", images, ["--data.image_size=32"], ["16x16", "32x32"]),
    "audio/slice-vs-clip": ("audio-fsdd", clips, ["--mel.frames_per_token=0"], ["--mel.frames_per_token"]),
    # unknown keys
    "char-lm/unknown-key": ("char-lm", corpus, ["--backbone.dimm=64"], ["--backbone.dimm", "valid keys"]),
    "bpe-lm/unknown-section": ("bpe-lm", corpus, ["--audio.rate=8000"], ["--audio.rate"]),
    "vit/other-recipe-key": ("vit-cifar10", images, ["--data.holdout_speaker=ann"], ["--data.holdout_speaker"]),
    "audio/other-recipe-key": ("audio-fsdd", clips, ["--data.block_size=64"], ["--data.block_size"]),
    # char-lm / bpe-lm: the user's text (--data.dataset)
    "char-lm/folder-without-txt": ("char-lm", no_txt_folder, [], ["notes", ".txt"]),
    "bpe-lm/empty-dataset-file": ("bpe-lm", empty_dataset, [], ["empty.txt", "empty"]),
    "char-lm/hub-id-not-cached": ("char-lm", uncached_hub_id, [], ["nobody/no-such-corpus", "cache"]),
    "bpe-lm/parquet-without-text": ("bpe-lm", numbers_parquet, [], ["pq", "no text column"]),
    "char-lm/no-such-text-column": ("char-lm", text_parquet_args, ["--data.text_column=body"],
                                    ["'body'", "text column"]),
    "char-lm/dataset-and-path": ("char-lm", corpus, ["--data.dataset=other.txt"], ["--data.dataset", "--data.path"]),
    "char-lm/prompt-outside-vocab": ("char-lm", corpus, ["--sample.prompt=XYZ"], ["--sample.prompt", "XYZ"]),
    # dt: offline-RL datasets and evaluation settings
    "dt/missing-dataset": ("dt", missing_dataset, [], ["test/cartpole/nope-v0", "not found", "test/cartpole/toy-v0"]),
    "dt/top-pct-zero": ("dt", episodes, ["--data.top_pct=0"], ["--data.top_pct", "(0, 1]"]),
    "dt/top-pct-above-one": ("dt", episodes, ["--data.top_pct=1.5"], ["--data.top_pct", "1.5"]),
    "dt/word-for-targets": ("dt", episodes, ["--eval.targets=abc"], ["--eval.targets", "abc"]),
    "dt/nan-target": ("dt", episodes, ["--eval.targets=100,nan"], ["--eval.targets", "finite"]),
    "dt/nan-rewards": ("dt", nan_rewards, [], ["test/cartpole/nanr-v0", "episode 2", "NaN", "rewards"]),
    "dt/nan-observations": ("dt", nan_observations, [], ["test/cartpole/nano-v0", "episode 2", "NaN", "observations"]),
    "dt/one-episode": ("dt", one_episode, [], ["test/cartpole/one-v0", "at least 2 episodes"]),
    "dt/zero-episodes": ("dt", episodes, ["--eval.episodes=0"], ["--eval.episodes"]),
    "dt/negative-select-episodes": ("dt", episodes, ["--eval.select_episodes=-1"], ["--eval.select_episodes", "-1"]),
    # av-digits: MNIST + FSDD + questions
    "av-digits/missing-mnist": ("av-digits", no_mnist, [], ["nowhere", "--data.mnist_dir"]),
    "av-digits/unknown-question": ("av-digits", digits, ["--data.kinds=written,colour"], ["--data.kinds", "colour"]),
    "av-digits/unknown-fusion": ("av-digits", digits, ["--model.fusion=late"], ["--model.fusion", "late"]),
    "av-digits/patch-vs-image": ("av-digits", digits, ["--model.image_stem=linear", "--model.patch_size=5"],
                                 ["--model.patch_size", "28"]),
    "av-digits/conv-patch": ("av-digits", digits, ["--model.image_stem=conv", "--model.patch_size=7"],
                             ["--model.patch_size", "power of two"]),
    "av-digits/unknown-stem": ("av-digits", digits, ["--model.image_stem=resnet"], ["--model.image_stem", "resnet"]),
    # qa: a manifest of your own rows, each checked (file and line named)
    "qa/no-dataset": ("qa", lambda root: [], [], ["--data.dataset", "train.jsonl"]),
    "qa/not-json": ("qa", qa_not_json, [], ["train.jsonl: line 5 is not JSON"]),
    "qa/no-input": ("qa", qa_spoilt(image=None), [], ["train.jsonl: line 4", "neither image, audio nor text"]),
    "qa/no-question": ("qa", qa_spoilt(question=None), [], ["train.jsonl: line 4", "no 'question'"]),
    "qa/no-answer": ("qa", qa_spoilt(answer=None), [], ["train.jsonl: line 4", "no 'answer'"]),
    "qa/empty-answer": ("qa", qa_spoilt(answer=" "), [], ["train.jsonl: line 4", "empty answer"]),
    "qa/missing-file": ("qa", qa_spoilt(image="img/nowhere.png"), [], ["train.jsonl: line 4", "img/nowhere.png",
                                                                       "does not exist"]),
    "qa/long-answer": ("qa", qa_spoilt(answer="a" * 40), [], ["train.jsonl: line 4", "40 characters",
                                                              "--model.max_answer=32"]),
    "qa/unreadable-image": ("qa", qa_spoilt(image="train.jsonl"), [], ["train.jsonl: line 4", "not a readable image"]),
    "qa/test-input-kind": ("qa", qa_test_audio, [], ["test.jsonl: line 2", "audio", "none of the rows"]),
    "qa/patch-vs-image": ("qa", qa_manifest, ["--model.patch_size=3"], ["--model.patch_size=3", "--data.image_size=8"]),
    # multitask: the task list and each task's own section
    "multitask/unknown-task": ("multitask", text_only, ["--tasks.names=char-lm,chess"], ["--tasks.names", "chess"]),
    "multitask/bad-weight": ("multitask", text_only, ["--tasks.weights=char-lm:-1"], ["--tasks.weights", "positive"]),
    "multitask/batch-counts-vs-steps": ("multitask", text_only, ["--tasks.names=char-lm", "--tasks.batches=char-lm:7"],
                                        ["--tasks.batches", "add up to 7", "max_steps"]),
    "multitask/batch-count-word": ("multitask", text_only, ["--tasks.batches=char-lm:many"], ["--tasks.batches", "many"]),
    "multitask/task-section-key": ("multitask", text_only, ["--char_lm.data.block_sise=8"], ["--char_lm.data.block_sise"]),
    "multitask/task-data": ("multitask", text_only, [f"--char_lm.data.path={Path('/nowhere/corpus.txt')}"],
                            ["/nowhere/corpus.txt"]),
    # image-classify / audio-classify: your data, any source
    "image-classify/no-dataset": ("image-classify", lambda root: ["--data.image_size=8", "--model.patch_size=4"], [],
                                  ["--data.dataset", "not set"]),
    "image-classify/missing-folder": ("image-classify", user_images, ["--data.dataset=/nowhere/photos"],
                                      ["/nowhere/photos", "not a folder"]),
    "image-classify/one-class": ("image-classify", one_class, [], ["only one class", "'cat'"]),
    "image-classify/broken-image": ("image-classify", broken_image, [], ["broken.png", "skip_bad"]),
    "image-classify/loose-file": ("image-classify", loose_image, [], ["stray.png", "class folder"]),
    "image-classify/bad-channels": ("image-classify", user_images, ["--data.channels=2"], ["--data.channels", "got 2"]),
    "image-classify/negative-epochs": ("image-classify", user_images, ["--loop.epochs=-1"], ["--loop.epochs"]),
    "image-classify/negative-cache": ("image-classify", user_images, ["--data.cache_gb=-1"], ["--data.cache_gb"]),
    "image-classify/no-validation": ("image-classify", user_images, ["--data.val_fraction=0"],
                                     ["--data.val_fraction", "validation split"]),
    "image-classify/unknown-column": ("image-classify", user_parquet, ["--data.image_column=photo"],
                                      ["'photo'", "columns"]),
    "image-classify/fraction-one": ("image-classify", user_images, ["--data.test_fraction=1"], ["--data.test_fraction"]),
    "audio-classify/not-a-wav": ("audio-classify", not_a_wav, [], ["fake.wav"]),
    "audio-classify/metadata-missing-file": ("audio-classify", metadata_missing_file, [], ["metadata.csv", "gone.wav"]),
    "audio-classify/offline-hub-id": ("audio-classify", user_clips, ["--data.dataset=nobody/no-such-sounds"],
                                      ["nobody/no-such-sounds", "cache"]),
    "audio-classify/huge-window": ("audio-classify", user_clips, [f"--data.max_seconds={HUGE}"], ["--data.max_seconds"]),
    # fails in model building, after state_stats.json is written: the folder still goes
    "dt/positions-vs-horizon": ("dt", episodes, ["--backbone.max_positions=10"],
                                ["--backbone.max_positions", "500"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_ends_in_one_line(case, tmp_path, capsys):
    recipe, data, extra, needles = CASES[case]
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", recipe, "--out", out, *data(tmp_path), *TINY, *extra)
    assert_clean_error(code, stdout, err, *needles)
    assert not out.exists()  # nothing half-written


def test_out_of_memory_mid_run_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """An allocation failure during training (CPU or GPU wording) ends like any other bad input."""
    from tzoo.tasks.model import TzooModel

    for message in ("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB",
                    "CUDA out of memory. Tried to allocate 20.00 GiB"):
        monkeypatch.setattr(TzooModel, "forward", lambda self, batch, task=None: (_ for _ in ()).throw(RuntimeError(message)))
        out = tmp_path / "run"
        code, stdout, err = run_cli(capsys, "train", "char-lm", "--out", out, *corpus(tmp_path), *TINY)
        assert_clean_error(code, stdout, err, "step 0", "out of memory", "--loop.batch_size")
        assert not out.exists()


def test_other_errors_still_raise(tmp_path, capsys, monkeypatch):
    """Only allocation failures are turned into user errors: a bug keeps its traceback."""
    from tzoo.tasks.model import TzooModel

    monkeypatch.setattr(TzooModel, "forward", lambda self, batch, task=None: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        run_cli(capsys, "train", "char-lm", "--out", tmp_path / "run", *corpus(tmp_path), *TINY)
    assert not (tmp_path / "run").exists()


def test_sharded_launch_is_refused(tmp_path, capsys, monkeypatch):
    """FSDP / DeepSpeed would need sharded checkpoints, which tzoo does not write: refuse at start-up."""
    from accelerate.utils import DistributedType

    import tzoo.recipes.train as train

    class Sharded:
        distributed_type = DistributedType.FSDP

        def __init__(self, **kwargs):
            pass

    monkeypatch.setattr(train, "Accelerator", Sharded)
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "char-lm", "--out", out, *corpus(tmp_path), *TINY)
    assert_clean_error(code, stdout, err, "FSDP", "DDP")
    assert not out.exists()
