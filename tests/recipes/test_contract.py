"""The recipe contract: parts, declared verbs, one load type, the Python API, honest splits, run folders."""
import json
import subprocess
import sys

import pytest
import torch

import tzoo
from tests.conftest import TINY, run_cli, write_image_parquet
from tests.test_cli import assert_clean_error
from tzoo.errors import TzooError
from tzoo.modalities.splits import stratified_split
from tzoo.modalities.streams import Stream, step_seed
from tzoo.recipes import RECIPES
from tzoo.recipes.base import Loaded, Recipe

VIT = ["--data.image_size=16", "--model.patch_size=4", "--backbone.dim=32", "--backbone.depth=1",
       "--backbone.heads=2", "--loop.batch_size=8", "--loop.eval_every=2", "--optim.warmup_steps=1",
       "--data.val_size=10"]


def test_every_recipe_follows_the_contract():
    for name, recipe in RECIPES.items():
        assert isinstance(recipe, Recipe), name
        assert recipe.verbs and set(recipe.verbs) <= {"sample", "predict", "eval"}, name
        assert recipe.name == name and recipe.default() is not None


def test_every_recipe_has_one_signature_per_verb_and_refuses_unknown_options():
    """`tzoo.load` calls each verb the same way for every recipe: (loaded, cfg, inputs, **options)."""
    import inspect

    shape = lambda f: [(p.name, p.kind) for p in inspect.signature(f).parameters.values()]  # noqa: E731
    for name, recipe in RECIPES.items():
        for verb in ("sample", "predict", "evaluate"):
            assert shape(getattr(type(recipe), verb)) == shape(getattr(Recipe, verb)), (name, verb)
        for verb in {"sample", "predict"} & set(recipe.verbs):
            if name != "multitask":  # its verbs name a task first
                with pytest.raises(TzooError, match=f"{name} `{verb}` has no option 'nonsense'; its options: "):
                    recipe.verb_options(verb, {"nonsense": 1})


def test_eval_overrides_are_checked_in_one_place():
    """Each recipe declares the overrides its `tzoo eval` takes; one check refuses the others."""
    lm, dt = RECIPES["char-lm"], RECIPES["dt"]
    assert lm.eval_overrides({"data.path": "x"}) == {"data.path": "x"}
    assert dt.eval_overrides({"eval.episodes": "2", "eval.targets": "1"}) == {"eval.episodes": "2", "eval.targets": "1"}
    with pytest.raises(TzooError, match="tzoo eval of char-lm takes only --data.path, not --data.dir"):
        lm.eval_overrides({"data.path": "x", "data.dir": "y"})
    with pytest.raises(TzooError, match=r"tzoo eval of dt takes only --eval\.\*, not --evaluation.x"):
        dt.eval_overrides({"evaluation.x": "1"})
    for name in ("vit-cifar10", "audio-fsdd", "av-digits"):
        with pytest.raises(TzooError, match=f"tzoo eval of {name} takes only"):
            RECIPES[name].eval_overrides({"loop.max_steps": "1"})


@pytest.fixture
def lm_run(tmp_path, capsys, corpus):
    out = tmp_path / "lm"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=4")
    assert code == 0, err
    return out


def test_python_api_generates_and_evaluates_like_the_cli(lm_run, capsys):
    run = tzoo.load(lm_run)
    assert isinstance(run.loaded, Loaded) and run.verbs == ("sample", "eval")
    text = run.generate("The ", max_new_tokens=12, temperature=0.0)
    assert text.startswith("The ") and len(text) == 16
    code, out, _ = run_cli(capsys, "sample", lm_run, "--prompt", "The ", "--max-new-tokens", "12", "--temperature", "0")
    assert code == 0 and out.strip() == text.strip()
    figures = run.evaluate()
    code, out, _ = run_cli(capsys, "eval", lm_run)
    assert figures == json.loads(out.strip().splitlines()[-1])
    with pytest.raises(TzooError, match="no `predict`"):
        run.predict(["x.png"])


def test_load_puts_the_model_on_a_device_and_the_verbs_follow_it(lm_run, corpus, monkeypatch):
    from tests.recipes.device_spy import assert_runs_on_the_model_device
    from tzoo.api import pick_device

    cpu = tzoo.load(lm_run, device="cpu")
    assert cpu.device == torch.device("cpu") and {p.device.type for p in cpu.model.parameters()} == {"cpu"}
    assert cpu.generate("The ", max_new_tokens=3).startswith("The ") and "loss" in cpu.evaluate()
    # a device other than the CPU, without data: the verbs must hand the model batches that live there
    meta = tzoo.load(lm_run, device="meta")
    made, real = [], torch.Generator
    monkeypatch.setattr(torch, "Generator", lambda device="cpu": made.append(torch.device(device)) or real())
    assert_runs_on_the_model_device(meta, "generate", "The ", max_new_tokens=3)
    assert made == [torch.device("meta")]  # sampling draws on the model's device too
    assert_runs_on_the_model_device(meta, "evaluate")
    assert_runs_on_the_model_device(meta, "evaluate", {"data.path": str(corpus)})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")  # the default: cuda when there is one
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    with pytest.raises(TzooError, match="no CUDA GPU"):
        tzoo.load(lm_run, device="cuda")
    with pytest.raises(TzooError, match="not a torch device"):
        tzoo.load(lm_run, device="gpu0")


def test_cli_refuses_undeclared_verbs(lm_run, capsys):
    assert_clean_error(*run_cli(capsys, "predict", lm_run, "x.png"), "char-lm has no `predict`")


def test_an_unfinished_classifier_run_predicts_from_its_run_files(tmp_path, capsys, cifar_dir):
    out = tmp_path / "vit"
    assert run_cli(capsys, "train", "vit-cifar10", "--out", out, f"--data.dir={cifar_dir}", *VIT,
                   "--loop.max_steps=2")[0] == 0
    (out / "metrics.json").unlink()  # as if stopped after its last checkpoint
    assert json.loads((out / "classes.json").read_text())[0] == "airplane"
    from PIL import Image
    png = tmp_path / "x.png"
    Image.new("RGB", (16, 16), (40, 100, 7)).save(png)
    results = tzoo.load(out).predict([png])
    assert results[0]["input"] == str(png) and len(results[0]["top"]) == 5
    assert 0.5 - 1e-4 <= sum(p for _, p in results[0]["top"]) <= 1 + 1e-4  # the top 5 of 10 classes


def test_eval_refuses_data_with_other_classes(tmp_path, capsys, cifar_dir):
    import datasets
    out = tmp_path / "vit"
    assert run_cli(capsys, "train", "vit-cifar10", "--out", out, f"--data.dir={cifar_dir}", *VIT,
                   "--loop.max_steps=1")[0] == 0
    other = tmp_path / "other"
    write_image_parquet(other, "test", [0, 1])
    path = other / "test-00000-of-00001.parquet"
    ds = datasets.Dataset.from_parquet(str(path)).cast_column("label", datasets.ClassLabel(names=list("abcdefghij")))
    ds.to_parquet(str(path))
    assert_clean_error(*run_cli(capsys, "eval", out, f"--data.dir={other}"), "differ from the run's")


def test_a_new_run_refuses_a_folder_with_another_runs_files(tmp_path, capsys, corpus):
    out = tmp_path / "out"
    out.mkdir()
    (out / "vocab.json").write_text('{"chars": ["x"]}')
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY),
                       "vocab.json", "earlier run")


def test_a_failed_run_in_an_existing_folder_removes_only_what_it_wrote(tmp_path, capsys, corpus):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                           "--optim.lr=1e9", "--loop.max_steps=6", "--loop.save_every=0", "--loop.eval_every=100")
    assert code != 0 and "not finite" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=2")
    assert code == 0, err  # the folder is reusable: no stale config.json or vocab.json was left


def test_validation_is_carved_from_training_and_test_is_scored_once(tmp_path, capsys, cifar_dir):
    out = tmp_path / "vit"
    assert run_cli(capsys, "train", "vit-cifar10", "--out", out, f"--data.dir={cifar_dir}", *VIT,
                   "--loop.max_steps=4")[0] == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_examples"] == 10 and metrics["test_examples"] == 20
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all("test_acc" not in r for r in log) and all("val_acc" in r for r in log)
    best = max(r["val_acc"] for r in log)
    assert metrics["val_acc"] == pytest.approx(best)  # the chosen checkpoint is the best on validation


def test_stratified_split_is_fixed_and_proportional():
    labels = torch.arange(10).repeat_interleave(torch.tensor([50, 50, 50, 50, 50, 100, 100, 100, 100, 100]))
    keep, held = stratified_split(labels, 75, seed=0)
    again = stratified_split(labels, 75, seed=0)[1]
    assert torch.equal(held, again) and len(held) == 75 and len(keep) + len(held) == len(labels)
    assert set(keep.tolist()).isdisjoint(held.tolist())
    counts = torch.bincount(labels[held], minlength=10)
    assert counts[:5].tolist() == [5] * 5 and counts[5:].tolist() == [10] * 5
    assert not torch.equal(held, stratified_split(labels, 75, seed=1)[1])


def test_fsdd_validation_takes_an_index_slice_of_the_training_side(tmp_path):
    from tests.audio_fixtures import fake_fsdd
    from tzoo.modalities.fsdd import scan, split, split_validation

    data = fake_fsdd(tmp_path / "rec", indices=(0, 5, 9, 10), speakers=("ann",))
    train, test = split(scan(data), None, data)
    train, val = split_validation(train, (5, 9), data)
    assert {r.index for r in test} == {0} and {r.index for r in val} == {5, 9} and {r.index for r in train} == {10}
    with pytest.raises(TzooError, match="validation split is empty"):
        split_validation(train, (5, 9), data)


def test_seed_streams_never_collide():
    keys = [(1, 0), (0, 0), (4, 1), (1, 4)]
    seeds = {step_seed(1337, s, *k) for s in Stream for k in keys}
    assert len(seeds) == len(Stream) * len(keys)
    assert len({int(s) for s in Stream}) == len(Stream)


def test_help_into_a_closed_pipe_is_quiet():
    cmd = f"{sys.executable} -m tzoo train char-lm --help | head -1"
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert p.stdout.startswith("tzoo train char-lm") and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr


def test_list_valued_and_nested_config_keys():
    from tzoo.config import apply_overrides, describe, from_dict, to_dict
    from tzoo.recipes.dt import DT

    cfg = apply_overrides(DT.default(), {"eval.targets": "100,200.5", "data.context": "10"})
    assert cfg.eval.targets == (100.0, 200.5) and cfg.data.context == 10
    assert from_dict(DT.default(), json.loads(json.dumps(to_dict(cfg)))) == cfg
    assert "--eval.targets=100.0,200.5  (comma-separated list of float)" in describe(cfg)
    with pytest.raises(TzooError, match="eval.targets"):
        apply_overrides(cfg, {"eval.targets": "100,lots"})
