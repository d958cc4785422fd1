"""The "Mix your own modalities" example (docs/mix.md) runs as printed; the README and docs name real
recipes and config keys in their `tzoo train` commands, and their relative links lead to existing files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MIX = ROOT / "docs" / "mix.md"


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
