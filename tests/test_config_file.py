"""`tzoo train --config FILE` (YAML / JSON, sections or dotted keys), reruns from a run's config.json,
key descriptions in `--help`, and the nearest-key suggestion."""
import json

import pytest

from tests.conftest import TINY, run_cli
from tests.test_cli import assert_clean_error
from tzoo.config import flat_docs, nearest_key
from tzoo.recipes import RECIPES, get_recipe


def saved(run):
    return json.loads((run / "config.json").read_text())


def test_rerun_from_a_run_s_config_json_is_exact(tmp_path, capsys, corpus, one_thread):
    first, again = tmp_path / "first", tmp_path / "again"
    code, out, err = run_cli(capsys, "train", "char-lm", "--out", first, f"--data.path={corpus}",
                             "--loop.max_steps=3", "--loop.seed=7", *TINY)
    assert code == 0, err
    code, out, err = run_cli(capsys, "train", "--config", first / "config.json", "--out", again)
    assert code == 0, err
    assert saved(again) == saved(first)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (first, again))
    assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]


def test_yaml_sections_dotted_keys_and_the_command_line_wins(tmp_path, capsys, corpus, one_thread):
    cfg = tmp_path / "small.yaml"
    cfg.write_text(f"recipe: char-lm\ndata:\n  path: {corpus}\n  block_size: 16\n"
                   "backbone: {dim: 32, depth: 2, heads: 2}\nloop.max_steps: 2\nloop.batch_size: 4\n"
                   "loop.eval_every: 2\noptim:\n  lr: 1e-3\n  warmup_steps: 1\nsample.max_new_tokens: 5\n")
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--config", cfg, "--out", out, "--backbone.depth=1")
    assert code == 0, err
    c = saved(out)["config"]
    assert saved(out)["recipe"] == "char-lm"
    assert c["data"]["block_size"] == 16 and c["backbone"]["dim"] == 32 and c["loop"]["max_steps"] == 2
    assert c["optim"]["lr"] == 1e-3 and c["backbone"]["depth"] == 1  # the override beat the file's 2


def test_a_json_file_with_a_named_recipe(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"recipe": "bpe-lm", "backbone": {"dim": 32}}))
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--config", path), str(path), "bpe-lm", "char-lm")
    code, out, _ = run_cli(capsys, "train", "--config", path, "--help")  # the file's recipe's keys
    assert code == 0 and "tzoo train bpe-lm" in out


@pytest.mark.parametrize("name, text, needles", [
    ("bad.yaml", "backbone: [1, 2\n", ["not valid YAML", "line 2"]),
    ("bad.json", '{"backbone": {"dim": 32,}}', ["not valid JSON", "line 1"]),
    ("list.yaml", "- 1\n- 2\n", ["mapping"]),
    ("typo.yaml", "backbone:\n  dept: 2\n", ["--backbone.dept", "did you mean --backbone.depth?"]),
    ("type.yaml", "backbone:\n  depth: two\n", ["--backbone.depth", "'two'", "int"]),
    ("float.json", '{"loop": {"max_steps": 2.5}}', ["--loop.max_steps", "int"]),
    ("twice.yaml", "backbone.dim: 32\nbackbone:\n  dim: 64\n", ["backbone.dim", "twice"]),
    ("missing.yaml", None, ["not found"]),
])
def test_bad_config_files_are_one_line(tmp_path, capsys, name, text, needles):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    out = tmp_path / "run"
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--config", path, "--out", out), str(path), *needles)
    assert not out.exists()  # nothing half-written


def test_help_shows_each_key_s_description(capsys):
    code, out, _ = run_cli(capsys, "train", "char-lm", "--help")
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("--backbone.depth="))
    assert "(int)" in line and "number of blocks." in line
    line = next(x for x in out.splitlines() if x.strip().startswith("--loop.eval_batches="))
    assert "0 = the whole split every time" in line  # a continuation line of the docstring joined in


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_key_of_every_recipe_has_a_description(name):
    docs = flat_docs(get_recipe(name).default())
    assert not [k for k, d in docs.items() if not d]


def test_unknown_key_suggests_the_nearest(capsys):
    assert nearest_key("backbone.dept", ["backbone.depth", "backbone.dim"]) == "backbone.depth"
    assert nearest_key("max_step", ["loop.max_steps", "loop.seed"]) == "loop.max_steps"  # by its last part
    assert nearest_key("zzz", ["loop.max_steps"]) is None
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--optim.learning_rate=1"), "--optim.learning_rate")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--loop.max_step=1"), "did you mean --loop.max_steps?")
