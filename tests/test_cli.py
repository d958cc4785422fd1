"""The command line: listing, help, and one-line errors with exit status 2 for bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, run_cli
from tzoo.errors import TzooError


def assert_clean_error(code, out, err, *needles):
    assert code == 2, (out, err)
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tzoo: error: ")
    for needle in needles:
        assert needle in last, (needle, last)


def test_list_and_help(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "char-lm" in out and "bpe-lm" in out
    code, out, _ = run_cli(capsys, "train", "char-lm", "--help")
    assert code == 0 and "--backbone.depth=" in out and "--loop.max_steps=" in out and "bench" in out


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"na\xefve caf\xe9\n" * 50, "UTF-8"),
    (b"too short\n", "fewer than one block"),
])
def test_bad_corpus(tmp_path, capsys, content, needle):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={path}", *TINY)
    assert_clean_error(code, stdout, err, str(path), needle)
    assert not out.exists()  # nothing half-written


def test_unknown_recipe_and_bad_overrides(tmp_path, capsys, corpus):
    assert_clean_error(*run_cli(capsys, "train", "gpt-5"), "gpt-5", "tzoo list")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--backbone.depth=two"), "--backbone.depth")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--backbone.dept=2"), "valid keys")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--backbone.heads=3"), "divisible")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--preset", "huge"), "huge")
    assert_clean_error(*run_cli(capsys, "frobnicate"), "frobnicate")


def test_sample_and_eval_on_a_non_run(tmp_path, capsys):
    assert_clean_error(*run_cli(capsys, "sample", tmp_path), "not a tzoo run directory")
    assert_clean_error(*run_cli(capsys, "sample", tmp_path / "missing"), "no such run directory")
    assert_clean_error(*run_cli(capsys, "eval", tmp_path), "not a tzoo run directory")


def test_run_errors(tmp_path, capsys, corpus):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=2")[0] == 0
    # a second fresh run into the same folder would clobber it
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}"), "--resume")
    # characters the char vocabulary never saw
    assert_clean_error(*run_cli(capsys, "sample", out, "--prompt", "Zürich €"), "outside the vocabulary")
    assert_clean_error(*run_cli(capsys, "train", "--resume", out, "--backbone.dim=64"), "cannot change on resume")
    assert_clean_error(*run_cli(capsys, "eval", out, "--loop.batch_size=3"), "--data.path")
    # a damaged config
    (out / "config.json").write_text(json.dumps({"recipe": "char-lm", "config": {"backbone": {"dim": "x"}}}))
    assert_clean_error(*run_cli(capsys, "sample", out), "config.json")


VERBS = ["list", "train", "sample", "eval", "predict", "collect"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_answers_help(capsys, verb):
    # `eval DIR --help` once said "--help needs a value"; `train --help` once exited 2
    for args in ([verb, "--help"], [verb, "-h"], ["help", verb]) + (([verb, "runs/x", "--help"],) if verb == "eval" else ()):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, (args, err)
        assert out.startswith("usage: tzoo " + verb) and "--help" in out and "error" not in err, args


def test_version(capsys):
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        code, out, _ = run_cli(capsys, flag)
        assert code == 0 and out.strip() == f"tzoo {version('tzoo')}"


@pytest.mark.parametrize("args, needle", [
    (["sample", "runs/x", "--temperature", "hot"], "invalid float value: 'hot'"),
    (["sample"], "required: DIR"),
    (["predict", "runs/x", "--image"], "--image: expected one argument"),
    (["train", "char-lm", "--out"], "--out: expected one argument"),
    (["list", "extra"], "unrecognized arguments: extra"),
    (["eval"], "tzoo eval DIR"),
    (["eval", "--task=lm"], "tzoo eval DIR"),
    (["collect", "CartPole-v1"], "--out"),
    (["collect", "CartPole-v1", "--out", "tzoo/cp/x-v0", "--episodes", "two"], "invalid int value"),
])
def test_bad_arguments_are_one_line(capsys, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert_clean_error(code, out, err, needle, "--help")
    assert len(err.strip().splitlines()) == 1 and "usage:" not in err and not out  # no usage block


@pytest.mark.parametrize("given, fixed", [
    ("cartpole", "tzoo/cartpole-v0"),
    ("tzoo/cartpole/mixed", "tzoo/cartpole/mixed-v0"),
    ("cartpole-v3", "tzoo/cartpole-v3"),
    ("tzoo/cart pole-v1", "tzoo/cart-pole-v1"),
])
def test_collect_shows_the_corrected_dataset_id(capsys, given, fixed):
    assert_clean_error(*run_cli(capsys, "collect", "CartPole-v1", "--out", given), f"use --out {fixed}")


def test_the_cli_starts_without_torch():
    """`tzoo --help` / `tzoo list` answer at once: importing the CLI imports no torch, no recipe."""
    code = ("import sys, tzoo, tzoo.cli; from tzoo.cli import main; main(['list']); "
            "heavy = [m for m in ('torch', 'accelerate', 'datasets', 'minari', 'tzoo.recipes.lm') if m in sys.modules]; "
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "char-lm" in out.stdout and "HEAVY []" in out.stdout, out.stdout


def test_declared_builtins_match_their_recipes():
    """`tzoo list` shows declared summaries and presets without importing; they must be the recipes' own."""
    from tzoo.recipes import BUILTIN_NAMES, RECIPES, get_recipe
    from tzoo.recipes.registry import Registry

    fresh = Registry()  # the shared one may have imported them already
    for name in BUILTIN_NAMES:
        fresh.declare(name, RECIPES._entries[name].target, **{k: getattr(RECIPES._entries[name].info, k)
                                                             for k in ("summary", "presets")})
        declared, recipe = fresh.info(name), get_recipe(name)
        assert (declared.summary, declared.presets) == (recipe.summary, tuple(recipe.presets)), name
        assert recipe.name == name


class ToyRecipe:
    """A recipe defined in a test module (duck-typed: only what the registry and `tzoo list` read)."""

    name = "toy-recipe"
    summary = "a toy for the registry test"
    verbs = ("eval",)

    def __init__(self) -> None:
        self.presets = {"tiny": lambda: None, "big": lambda: None}

    def default(self):
        return None

    def build(self, *args):
        raise NotImplementedError

    def load(self, *args):
        raise NotImplementedError


@pytest.fixture
def toy():
    from tzoo.recipes import RECIPES, register

    recipe = register(ToyRecipe())
    yield recipe
    RECIPES.unregister(recipe.name)


def test_a_registered_recipe_is_listed_and_found(capsys, toy):
    from tzoo.recipes import get_recipe, register

    assert get_recipe("toy-recipe") is toy
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "toy-recipe" in out and "a toy for the registry test (presets: tiny, big)" in out
    with pytest.raises(TzooError, match="'toy-recipe' exists already"):
        register(ToyRecipe())
    with pytest.raises(TzooError, match="'char-lm' exists already"):
        register(type("Clash", (ToyRecipe,), {"name": "char-lm"}))
    with pytest.raises(TzooError, match="lacks summary, presets"):
        register(type("Half", (), {"name": "half"})())


def test_register_as_a_class_decorator():
    from tzoo.recipes import RECIPES, get_recipe, register

    @register
    class Decorated(ToyRecipe):
        name = "decorated"
    try:
        assert isinstance(get_recipe("decorated"), Decorated) and "decorated" in RECIPES
    finally:
        RECIPES.unregister("decorated")
    with pytest.raises(TzooError, match="unknown recipe 'decorated'.*char-lm.*tzoo list"):
        get_recipe("decorated")


def test_an_installed_package_s_entry_point_is_listed(tmp_path):
    """A package that declares `[project.entry-points."tzoo.recipes"]` is seen by `tzoo list` and `tzoo train`."""
    (tmp_path / "toy_pkg.py").write_text("from tests.test_cli import ToyRecipe\nRECIPE = ToyRecipe()\n"
                                         "BROKEN = ToyRecipe()\n")
    info = tmp_path / "toy_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tzoo.recipes]\ntoy-recipe = toy_pkg:RECIPE\nmisnamed = toy_pkg:BROKEN\n"
                                           "char-lm = toy_pkg:RECIPE\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{Path(__file__).parent.parent}"}

    def tzoo(*args):
        return subprocess.run([sys.executable, "-m", "tzoo", *args], capture_output=True, text=True, env=env,
                              timeout=120)
    out = tzoo("list")
    assert out.returncode == 2 and "misnamed" in out.stderr and "toy_pkg:BROKEN is recipe 'toy-recipe'" in out.stderr
    (info / "entry_points.txt").write_text("[tzoo.recipes]\ntoy-recipe = toy_pkg:RECIPE\nchar-lm = toy_pkg:RECIPE\n")
    out = tzoo("list")
    assert out.returncode == 0, out.stderr
    assert "toy-recipe" in out.stdout and "(presets: tiny, big)" in out.stdout
    assert "'char-lm' of package toy-pkg ignored" in out.stderr  # a built-in keeps its name
    out = tzoo("train", "toy-recipe", "--preset", "huge")
    assert out.returncode == 2 and "unknown preset 'huge' for toy-recipe; presets: tiny, big" in out.stderr
