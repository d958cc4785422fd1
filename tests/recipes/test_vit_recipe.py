"""vit-cifar10 at tiny sizes on a synthetic parquet dataset with CIFAR-10's schema."""
import json

import pytest
import torch
from PIL import Image

import tzoo
from tests.conftest import run_cli, write_image_parquet
from tests.test_cli import assert_clean_error
from tzoo.recipes.vit import VitConfig, VitModelConfig, make_model, pooled_attention
from tzoo.backbone import BackboneConfig
from tzoo.errors import TzooError

TINY_VIT = ["--data.image_size=16", "--model.patch_size=4", "--backbone.dim=32", "--backbone.depth=2",
            "--backbone.heads=2", "--loop.batch_size=8", "--loop.eval_every=3", "--loop.log_every=1",
            "--optim.warmup_steps=1", "--data.val_size=20"]


@pytest.mark.parametrize("pool, registers, stem", [("cls", 0, "linear"), ("mean", 0, "linear"), ("cls", 2, "linear"),
                                                   ("cls", 0, "conv")])
def test_every_parameter_gets_a_gradient(pool, registers, stem):
    cfg = VitConfig(backbone=BackboneConfig(dim=16, depth=2, heads=2, bias=True),
                    model=VitModelConfig(patch_size=4, pool=pool, registers=registers, stem=stem, stem_channels=4))
    model = make_model(cfg, 10)
    with torch.no_grad():
        model.head().head.weight.normal_()  # the zero-initialised head would block gradients below it
    out = model({"image": torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8),
                 "targets": torch.tensor([0, 1, 2, 3])})
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    maps = pooled_attention(model.eval(), torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert maps.shape == (2, 8, 8)


def test_recipe_trains_predicts_and_evaluates(tmp_path, capsys, cifar_dir):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "vit-cifar10", "--out", out, f"--data.dir={cifar_dir}",
                                "--loop.max_steps=30", "--optim.lr=3e-3", *TINY_VIT, "--loop.eval_every=10")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    # The images encode their class in the red channel: 30 steps learn part of it (chance: 10%, loss 2.303).
    assert metrics["test_acc"] >= 0.2 and metrics["test_loss"] < 2.25 and metrics["test_examples"] == 20
    assert metrics["train_images_per_s"] > 0 and metrics["wall_s"] > 0
    assert len(metrics["test_per_class_acc"]) == 10
    for name in ("confusion.png", "attention.png", "loss.png", "model.safetensors", "config.json"):
        assert (out / name).is_file(), name

    png = tmp_path / "frog.png"
    Image.new("RGB", (16, 16), (120, 100, 7)).save(png)
    code, stdout, err = run_cli(capsys, "predict", out, png)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0] == str(png) and len(lines) == 6  # the file, then the top 5 classes
    probs = [float(line.split()[-1]) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001

    code, stdout, err = run_cli(capsys, "eval", out)
    figures = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and figures["test_acc"] == metrics["test_acc"]


def test_augmentation_presets_run(tmp_path, capsys, cifar_dir):
    code, _, err = run_cli(capsys, "train", "vit-cifar10", "--out", tmp_path / "run", f"--data.dir={cifar_dir}",
                           "--loop.max_steps=2", *TINY_VIT, "--augment.randaugment=rand-m9-mstd0.5",
                           "--augment.mixup_alpha=0.8", "--augment.cutmix_alpha=1.0",
                           "--backbone.drop_path=0.1", "--model.registers=1", "--model.patch_keep=0.5")
    assert code == 0, err
    assert (tmp_path / "run" / "attention.png").is_file()  # drawn with every patch, not the dropped-out set


def test_bad_inputs(tmp_path, capsys, cifar_dir):
    assert_clean_error(*run_cli(capsys, "train", "vit-cifar10", "--out", tmp_path / "r0",
                                f"--data.dir={tmp_path / 'missing'}", *TINY_VIT), "missing", "--data.dir")
    odd = tmp_path / "odd"
    write_image_parquet(odd, "train", [1, 2, 3], sizes={2: 20})
    write_image_parquet(odd, "test", [1, 2])
    assert_clean_error(*run_cli(capsys, "train", "vit-cifar10", "--out", tmp_path / "r1", f"--data.dir={odd}",
                                *TINY_VIT), "record 2", "on_wrong_size=resize")
    assert not (tmp_path / "r1").exists()
    assert_clean_error(*run_cli(capsys, "train", "vit-cifar10", "--model.patch_size=5"), "patch_size")
    assert_clean_error(*run_cli(capsys, "train", "vit-cifar10", "--model.stem=conv", "--model.patch_size=6",
                                "--data.image_size=24"), "power of two")

    out = tmp_path / "run"
    assert run_cli(capsys, "train", "vit-cifar10", "--out", out, f"--data.dir={cifar_dir}",
                   "--loop.max_steps=1", *TINY_VIT)[0] == 0
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    assert_clean_error(*run_cli(capsys, "predict", out, text), str(text), "not a readable image")
    big = tmp_path / "big.png"
    Image.new("RGB", (40, 30)).save(big)
    assert_clean_error(*run_cli(capsys, "predict", out, big, "--no-resize"), "40x30", "16x16", "--no-resize")
    assert_clean_error(*run_cli(capsys, "predict", out, tmp_path / "nope.png"), "file not found")
    # verbs take one set of options: another recipe's is a one-line error, not a TypeError
    assert_clean_error(*run_cli(capsys, "predict", out, "--image", big), "vit-cifar10 `predict` has no option 'image'")
    with pytest.raises(TzooError, match="has no option 'prompt'; its options: top_k, resize"):
        tzoo.load(out).predict([big], prompt="hi")


def test_predict_resizes_other_sizes_with_a_note(tmp_path, capsys, cifar_dir):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "vit-cifar10", "--out", out, f"--data.dir={cifar_dir}",
                   "--loop.max_steps=1", *TINY_VIT)[0] == 0
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    Image.new("RGB", (16, 16), (120, 100, 7)).save(small)
    Image.new("RGB", (48, 48), (120, 100, 7)).save(big)  # the same flat colour, three times the side
    code, stdout, err = run_cli(capsys, "predict", out, small, big, "--top-k", "3")
    assert code == 0, err
    assert err.strip() == f"tzoo: {big}: 48x48 image resized to the model's 16x16"  # one note, for the file resized
    lines = stdout.splitlines()
    assert len(lines) == 8 and lines[0] == str(small) and lines[4] == str(big)  # each file, then its top 3
    assert lines[1:4] == lines[5:8]  # the resized image is the small one
    trained = tzoo.load(out, device="cpu")
    a, b = trained.predict([small, big], top_k=4)
    assert a["top"] == b["top"] and len(a["top"]) == 4 and sum(p for _, p in a["top"]) <= 1 + 1e-6

    from tests.recipes.device_spy import assert_runs_on_the_model_device
    meta = tzoo.load(out, device="meta")
    assert_runs_on_the_model_device(meta, "predict", [small])
    assert_runs_on_the_model_device(meta, "evaluate")


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_attention_maps_are_distributions_that_follow_the_image(pool):
    """The drawn map is the pooled token's attention over patches: non-negative, at most 1 in total
    (the rest goes to the query tokens), and it moves when the image does."""
    torch.manual_seed(0)
    cfg = VitConfig(backbone=BackboneConfig(dim=16, depth=2, heads=2), model=VitModelConfig(patch_size=8, pool=pool))
    model = make_model(cfg, 10).eval()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.normal_(0, 0.3)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    maps = pooled_attention(model, images)
    assert maps.shape == (2, 4, 4) and (maps >= 0).all()
    total = maps.sum(dim=(1, 2))
    assert (total <= 1 + 1e-5).all() and (total > 0.05).all()
    if pool == "mean":
        assert torch.allclose(total, torch.ones(2), atol=1e-5)  # patches attend only among patches
    assert not torch.allclose(maps[0], maps[1], atol=1e-4)
