"""The "Mix your own modalities" example (docs/mix.md) runs as printed; the README and docs name real
recipes and config keys in their `tzoo train` commands, and their relative links lead to existing files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MIX = ROOT / "docs" / "mix.md"

import tzoo
from tzoo.tasks import TzooModel


def snippet() -> str:
    return re.search(r"```python\n(.*?)```", MIX.read_text(encoding="utf-8"), re.S).group(1)


def test_mix_your_own_modalities(tmp_path, capsys):
    code = snippet().replace('"runs/mine"', repr(str(tmp_path / "mine")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exec(compile(code, "docs/mix.md", "exec"), {"__name__": "readme"})
    finally:
        torch.set_num_threads(threads)
    metrics = json.loads((tmp_path / "mine" / "metrics.json").read_text())
    assert metrics["recipe"] == "custom" and metrics["step"] == 150
    assert metrics["val_loss"] < 0.7  # it learned: the answer depends on the image, the fields and the question
    last = capsys.readouterr().out.strip().splitlines()[-1]
    got, want = last.split(" expected ")
    assert got.count("'") == want.count("'") == 8


def test_a_fit_run_is_not_a_recipe_run(tmp_path, capsys):
    from tests.conftest import run_cli
    from tests.test_cli import assert_clean_error
    from tzoo.recipes.rundir import RunDir

    from tzoo.recipes.custom import CustomConfig

    RunDir(tmp_path).save_config("custom", CustomConfig())
    assert_clean_error(*run_cli(capsys, "sample", tmp_path), "tzoo.load_into(model, DIR)")


def api_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def tiny_runs(root: Path, monkeypatch) -> dict[str, Path]:
    """The runs and files the README's Python API block names, trained tiny under `root`."""
    from tests.conftest import TINY, write_image_parquet
    from tests.recipes.test_multitask_recipe import SHAPE
    from tzoo.cli import main
    from tzoo.control.collect import collect

    corpus = root / "corpus.txt"
    corpus.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 60, encoding="utf-8")
    (root / "other.txt").write_text("ROMEO:\nBut what light, soft?\n", encoding="utf-8")
    write_image_parquet(root / "cifar", "train", [i % 10 for i in range(60)])
    write_image_parquet(root / "cifar", "test", [i % 10 for i in range(20)])
    from PIL import Image
    Image.new("RGB", (16, 16), (60, 90, 200)).save(root / "cat.png")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    collect("CartPole-v1", "test/cartpole/mixed-v0", policy="mixed", episodes=8, seed=0, ref_episodes=2, progress=False)
    runs = {"char-lm": root / "char-lm", "vit": root / "vit", "multitask": root / "multitask"}
    assert main(["train", "char-lm", "--out", str(runs["char-lm"]), f"--data.path={corpus}", *TINY,
                 "--loop.max_steps=4"]) == 0
    assert main(["train", "vit-cifar10", "--out", str(runs["vit"]), f"--data.dir={root / 'cifar'}",
                 "--data.image_size=16", "--model.patch_size=4", "--backbone.dim=32", "--backbone.depth=1",
                 "--backbone.heads=2", "--loop.batch_size=8", "--loop.max_steps=2", "--data.val_size=10"]) == 0
    assert main(["train", "multitask", "--out", str(runs["multitask"]), "--tasks.names=dt", *SHAPE,
                 "--loop.max_steps=2", "--dt.data.dataset=test/cartpole/mixed-v0", "--dt.data.context=8",
                 "--dt.data.val_fraction=0.25", "--dt.loop.batch_size=4", "--dt.loop.eval_batches=2",
                 "--dt.eval.episodes=2", "--dt.eval.num_envs=2", "--dt.eval.max_steps=30",
                 "--dt.eval.targets=500"]) == 0
    return runs


def run_statements(code: str) -> dict[str, object]:
    """Execute `code` statement by statement; the value of each expression statement, by its source."""
    import ast

    scope: dict = {"__name__": "readme"}
    values: dict[str, object] = {}
    for node in ast.parse(code).body:
        source = ast.get_source_segment(code, node)
        if isinstance(node, ast.Expr):
            values[source] = eval(compile(ast.Expression(node.value), "README.md", "eval"), scope)
        else:
            exec(compile(ast.Module([node], []), "README.md", "exec"), scope)
    return values


def test_python_api_block_gives_what_it_says(tmp_path, capsys, monkeypatch, one_thread):
    runs = tiny_runs(tmp_path, monkeypatch)
    capsys.readouterr()
    code = api_snippet()
    for name, path in (("runs/char-lm", runs["char-lm"]), ("runs/vit", runs["vit"]),
                       ("runs/multitask", runs["multitask"]), ("other.txt", tmp_path / "other.txt"),
                       ("cat.png", tmp_path / "cat.png")):
        assert f'"{name}"' in code, name
        code = code.replace(f'"{name}"', repr(str(path)))
    values = run_statements(code)

    printed = capsys.readouterr().out.splitlines()
    text = "\n".join(printed)
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 200  # the prompt and 200 characters

    lm_metrics = json.loads((runs["char-lm"] / "metrics.json").read_text())
    own = values["lm.evaluate()"]
    assert own["loss"] == pytest.approx(lm_metrics["val_loss"], rel=1e-6)
    assert own["bits_per_char"] == pytest.approx(lm_metrics["val_bpc"], rel=1e-6)
    other = next(v for k, v in values.items() if k.startswith("lm.evaluate({"))
    assert other["data"] == str(tmp_path / "other.txt") and other["chars_scored"] == len("ROMEO:\nBut what light, soft?\n") - 1

    (result,) = next(v for k, v in values.items() if k.startswith("vit.predict("))
    names = json.loads((runs["vit"] / "classes.json").read_text())
    assert result["input"] == str(tmp_path / "cat.png") and len(result["top"]) == 5
    probs = [p for _, p in result["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert {c for c, _ in result["top"]} <= set(names) and len({c for c, _ in result["top"]}) == 5
    model, class_names, verbs = next(v for k, v in values.items() if k.startswith("vit.model,"))
    assert isinstance(model, TzooModel) and class_names == names and verbs == ("predict", "eval")

    joint = next(v for k, v in values.items() if k.startswith("joint.evaluate("))
    assert joint["dataset"] == "test/cartpole/mixed-v0" and [t["episodes"] for t in joint["targets"]] == [10]
    assert joint["normalized_score"] == joint["targets"][0]["normalized_score"]  # one target: the run's 500
