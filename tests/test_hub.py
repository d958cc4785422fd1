"""Model cards and the Hugging Face Hub: every finished run writes README.md in the model-card format,
`tzoo push` uploads the folder, `tzoo.load("hf://owner/name")` opens it (network calls replaced)."""
import json
import shutil
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, metadata_load

import tzoo
from tests.conftest import TINY, run_cli
from tzoo.cli import main
from tzoo.errors import TzooError
from tzoo.recipes.card import hub_datasets, write_card
from tzoo.recipes.rundir import RunDir


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus_text) -> Path:
    """One tiny finished char-lm run."""
    root = tmp_path_factory.mktemp("hub")
    (root / "corpus.txt").write_text(corpus_text, encoding="utf-8")
    out = root / "run"
    assert main(["train", "char-lm", "--out", str(out), f"--data.path={root / 'corpus.txt'}",
                 "--loop.max_steps=4", *TINY]) == 0
    return out


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_a_finished_run_writes_a_model_card(run):
    meta = metadata_load(run / "README.md")
    assert meta == front_matter(run / "README.md")  # valid YAML front matter, read the Hub's way
    assert meta["library_name"] == "tzoo"
    assert {"tzoo", "char-lm", "text"} <= set(meta["tags"])
    metrics = json.loads((run / "metrics.json").read_text())
    [result] = meta["model-index"][0]["results"]
    assert result["task"]["type"] == "text-generation"
    assert [(m["type"], m["value"]) for m in result["metrics"]] == [("val_bpc", metrics["val_bpc"])]
    body = (run / "README.md").read_text()
    assert "tzoo train --config config.json" in body and "--loop.max_steps=4" in body
    assert "![loss](loss.png)" in body and 'tzoo.load("hf://' in body


def test_the_card_s_command_rebuilds_the_config(run):
    """The `tzoo train RECIPE --key=value ...` line in the card gives the run's exact config."""
    from tzoo.config import apply_overrides, parse_override_args, to_dict
    from tzoo.recipes import get_recipe

    line = next(x for x in (run / "README.md").read_text().splitlines() if x.startswith("tzoo train char-lm"))
    words = line.split()
    assert words[-2:] == ["--out", "runs/again"]
    cfg = apply_overrides(get_recipe("char-lm").default(), parse_override_args(words[3:-2]))
    assert to_dict(cfg) == json.loads((run / "config.json").read_text())["config"]


def test_hub_datasets_come_from_the_config():
    assert hub_datasets({"data": {"dir": None, "hub_id": "uoft-cs/cifar10"}}) == ["uoft-cs/cifar10"]
    assert hub_datasets({"data": {"dir": "/my/images", "hub_id": "uoft-cs/cifar10"}}) == []
    both = {"data": {"mnist_dir": None, "hub_id": "ylecun/mnist", "fsdd_dir": "/x"}}
    assert hub_datasets(both) == ["ylecun/mnist"]
    assert hub_datasets({"data": {"mnist_dir": "/m", "hub_id": "ylecun/mnist"}}) == []


def test_push_uploads_the_run_without_its_state(run, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    assert (folder / "state").is_dir()
    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["create"] = (repo_id, kw)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kw):
        calls["upload"] = kw
        from huggingface_hub.utils import filter_repo_objects
        root = Path(kw["folder_path"])
        files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        calls["files"] = set(filter_repo_objects(files, allow_patterns=kw.get("allow_patterns"),
                                                 ignore_patterns=kw.get("ignore_patterns")))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    code, out, err = run_cli(capsys, "push", folder, "me/tiny-lm", "--private")
    assert code == 0, err
    assert calls["create"] == ("me/tiny-lm", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls["upload"]["repo_id"] == "me/tiny-lm" and Path(calls["upload"]["folder_path"]) == folder
    assert {"README.md", "config.json", "model.safetensors", "metrics.json", "vocab.json", "loss.png"} <= calls["files"]
    assert not any(f.startswith("state/") for f in calls["files"])
    assert 'tzoo.load("hf://me/tiny-lm")' in (folder / "README.md").read_text()  # the card names its repo
    assert metadata_load(folder / "README.md")["model-index"][0]["name"] == "tiny-lm"

    assert run_cli(capsys, "push", folder, "me/tiny-lm", "--with-state")[0] == 0
    assert any(f.startswith("state/") for f in calls["files"])


def test_push_refuses_bad_input(run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "push", tmp_path, "me/x")
    assert code == 2 and "not a tzoo run directory" in err
    code, _, err = run_cli(capsys, "push", run, "not a repo")
    assert code == 2 and "OWNER/NAME" in err


def test_load_hf_uses_snapshot_download(run, monkeypatch):
    asked = {}

    def snapshot_download(repo_id, **kw):
        asked.update(repo_id=repo_id, **kw)
        return str(run)

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    lm = tzoo.load("hf://me/tiny-lm@v1")
    assert asked["repo_id"] == "me/tiny-lm" and asked["revision"] == "v1"
    local = tzoo.load(run)
    assert lm.generate("the", max_new_tokens=8, seed=0) == local.generate("the", max_new_tokens=8, seed=0)


def test_load_hf_offline_and_not_cached_is_one_line(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(TzooError, match="hf://me/absent.*not in the local Hugging Face cache") as e:
        tzoo.load("hf://me/absent")
    assert "\n" not in str(e.value)
    with pytest.raises(TzooError, match="OWNER/NAME"):
        tzoo.load("hf://just-a-name")


def test_write_card_needs_a_finished_run(run, tmp_path):
    folder = tmp_path / "unfinished"
    folder.mkdir()
    shutil.copy(run / "config.json", folder / "config.json")
    with pytest.raises(TzooError, match="metrics.json"):
        write_card(RunDir(folder))


def test_the_card_of_a_fit_run_points_at_load_into(tmp_path):
    from tzoo.recipes.custom import CustomConfig

    run = RunDir(tmp_path / "mine")
    run.save_config("custom", CustomConfig())
    run.save_metrics({"recipe": "custom", "step": 3, "val_loss": 0.5, "params": 10})
    body = write_card(run).read_text()
    assert metadata_load(run / "README.md")["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.5
    assert "tzoo.load_into(model, FOLDER)" in body and "tzoo train" not in body


def test_a_multitask_card_reports_each_task_under_its_own_data(tmp_path):
    from tzoo.config import apply_overrides
    from tzoo.recipes import get_recipe

    cfg = apply_overrides(get_recipe("multitask").default(), {"tasks.names": "char-lm,vit-cifar10"})
    run = RunDir(tmp_path / "joint")
    run.save_config("multitask", cfg)
    run.save_metrics({"recipe": "multitask", "val_loss": 1.5, "char-lm/val_bpc": 2.0, "vit-cifar10/test_acc": 0.5})
    write_card(run)
    meta = metadata_load(run / "README.md")
    assert {"text", "image", "multitask"} <= set(meta["tags"]) and meta["datasets"] == ["uoft-cs/cifar10"]
    got = {r["metrics"][0]["type"]: (r["task"]["type"], r["dataset"]["name"], r["metrics"][0]["value"])
           for r in meta["model-index"][0]["results"]}
    assert got == {"val_loss": ("any-to-any", "char-lm+vit-cifar10", 1.5),
                   "char-lm/val_bpc": ("text-generation", "char-lm data", 2.0),
                   "vit-cifar10/test_acc": ("image-classification", "uoft-cs/cifar10", 0.5)}
    assert get_recipe("multitask").headline == ("val_loss", False)
    assert "tzoo train multitask --tasks.names=char-lm,vit-cifar10 --out" in (run / "README.md").read_text()


@pytest.mark.parametrize("name", ["char-lm", "bpe-lm", "vit-cifar10", "audio-fsdd", "dt", "av-digits"])
def test_every_recipe_s_card_carries_its_headline(tmp_path, name):
    from tzoo.recipes import get_recipe

    recipe = get_recipe(name)
    run = RunDir(tmp_path / name)
    run.save_config(name, recipe.default())
    metric = recipe.headline[0]
    run.save_metrics({"recipe": name, metric: 0.25, "val_loss": float("nan")})
    meta = metadata_load(write_card(run))
    assert meta["tags"] == ["tzoo", name, *recipe.modalities] and recipe.modalities
    [result] = meta["model-index"][0]["results"]
    assert result["task"]["type"] == recipe.hub_task != "other"
    assert result["metrics"] == [{"type": metric, "value": 0.25, "name": metric}]
