import pytest
import torch

from tests.conftest import write_image_parquet
from tzoo.errors import TzooError
from tzoo.modalities.augment import Affine, affine_params, affine_warp, crop_flip
from tzoo.modalities.cifar import load_images
from tzoo.modalities.images import Augment, ImageBatches, eval_batches


def test_crop_flip_against_a_direct_implementation():
    x = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8)
    dx, dy = torch.tensor([0, 1, 2, 4, 3]), torch.tensor([4, 0, 2, 1, 3])
    flip = torch.tensor([False, True, False, True, True])
    out = crop_flip(x, 2, dx, dy, flip)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(5):
        want = padded[i, :, dy[i]:dy[i] + 6, dx[i]:dx[i] + 7]
        assert torch.equal(out[i], want.flip(-1) if flip[i] else want)


def label_of(images: torch.Tensor) -> torch.Tensor:
    """The label each synthetic image encodes (red = 20 * label), read at the centre pixel."""
    centre = images[:, 0, images.shape[2] // 2, images.shape[3] // 2].float()
    return (centre / 20).round().long()


def test_affine_warp_identity_translation_and_rotation():
    x = torch.randint(0, 256, (3, 1, 12, 12), dtype=torch.uint8)
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(3, 2, 3)
    assert torch.equal(affine_warp(x, identity), x)
    right = identity.clone()
    right[:, 0, 2] = -2 / 12  # the output reads one pixel to the left: the digit moves right by one
    moved = affine_warp(x, right)
    assert torch.equal(moved[..., 1:], x[..., :-1]) and not moved[..., 0].any()
    quarter = torch.tensor([[0.0, -1, 0], [1, 0, 0]]).expand(3, 2, 3)  # a quarter turn
    assert torch.equal(affine_warp(x, quarter), torch.rot90(x, 1, dims=(-2, -1)))


def test_affine_params_stay_in_their_ranges():
    g = torch.Generator().manual_seed(0)
    cfg = Affine(rotate=10.0, scale=0.2, translate=3.0)
    theta = affine_params(500, cfg, 28, g)  # (n, 2, 3)
    linear = theta[:, :, :2]
    scale = 1 / linear.det().abs().sqrt()  # no shear: the inverse of a rotation times 1/scale
    angle = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    assert scale.min() >= 0.8 - 1e-5 and scale.max() <= 1.2 + 1e-5 and scale.max() - scale.min() > 0.3
    assert angle.abs().max() <= 10 + 1e-4 and angle.abs().max() > 9
    assert theta[:, :, 2].abs().max() <= 3 * 2 / 28 + 1e-6
    assert torch.equal(theta, affine_params(500, cfg, 28, torch.Generator().manual_seed(0)))
    assert not Affine().active() and cfg.active()
    with pytest.raises(ValueError, match="scale"):
        Affine(scale=1.5).validate()


@pytest.mark.parametrize("augment", [Augment(crop_padding=2, flip=True),
                                     Augment(crop_padding=2, randaugment="rand-m9-mstd0.5")])
def test_augmentation_keeps_labels_aligned(cifar_dir, augment):
    split = load_images(str(cifar_dir), "unused", "train", size=16)
    src = ImageBatches(split.images, split.labels, 16, seed=0, augment=augment, num_classes=10)
    for i in range(8):
        b = src.batch(i)
        if not augment.randaugment:  # colour ops change the red channel; crops and flips do not
            assert torch.equal(label_of(b["image"]), b["targets"])
        assert b["image"].shape == (16, 3, 16, 16) and b["image"].dtype == torch.uint8


def test_mixup_makes_soft_targets_that_follow_the_images(cifar_dir):
    split = load_images(str(cifar_dir), "unused", "train", size=16)
    src = ImageBatches(split.images, split.labels, 16, 0, Augment(crop_padding=0, flip=False, mixup_alpha=0.8),
                       10, label_smoothing=0.0)
    b = src.batch(0)
    assert b["targets"].shape == (16, 10) and torch.allclose(b["targets"].sum(-1), torch.ones(16))
    red = b["image"][:, 0, 8, 8] * 255 / 20  # a mix of two labels: the mean label of the targets
    expected = (b["targets"] * torch.arange(10)).sum(-1)
    assert torch.allclose(red, expected, atol=0.05)


def test_epochs_visit_every_image_once(cifar_dir):
    split = load_images(str(cifar_dir), "unused", "train", size=16)
    src = ImageBatches(split.images, split.labels, 12, seed=3, augment=Augment(), num_classes=10)
    rows = torch.cat([src.indices(i, 1) for i in range(5)])  # 60 rows = one epoch
    assert sorted(rows.tolist()) == list(range(60))
    assert torch.equal(src.indices(2, 1), src.indices(2, 1))


def test_processes_take_slices_of_the_same_global_batch(cifar_dir):
    split = load_images(str(cifar_dir), "unused", "train", size=16)
    one = ImageBatches(split.images, split.labels, 8, 1, Augment(crop_padding=2), 10)
    two = ImageBatches(split.images, split.labels, 4, 1, Augment(crop_padding=2), 10)
    whole = one.batch(3)
    halves = [two.batch(3, r, 2) for r in range(2)]
    assert torch.equal(whole["image"], torch.cat([h["image"] for h in halves]))
    assert torch.equal(whole["targets"], torch.cat([h["targets"] for h in halves]))


def test_eval_batches_cover_the_split_across_processes():
    labels = torch.arange(10)
    seen = [b["targets"] for r in range(3) for b in eval_batches(torch.zeros(10, 3, 2, 2), labels, 3, r, 3)]
    assert sorted(torch.cat(seen).tolist()) == list(range(10))


def test_corrupt_records_are_skipped_and_counted(tmp_path, capsys):
    write_image_parquet(tmp_path / "d", "train", [i % 10 for i in range(200)], corrupt=(7,))
    split = load_images(str(tmp_path / "d"), "unused", "train", size=16)
    assert split.skipped == 1 and len(split.labels) == 199
    err = capsys.readouterr().err
    assert "record 7 skipped" in err and "skipped 1 of 200" in err


def test_too_many_corrupt_records_is_an_error(tmp_path):
    write_image_parquet(tmp_path / "d", "train", [0] * 20, corrupt=(1, 2, 3))
    with pytest.raises(TzooError, match="3 of 20 records"):
        load_images(str(tmp_path / "d"), "unused", "train", size=16)


def test_wrong_size_errors_or_resizes(tmp_path):
    write_image_parquet(tmp_path / "d", "train", [1, 2, 3], sizes={1: 20})
    with pytest.raises(TzooError, match="record 1: image is 20x20, expected 16x16"):
        load_images(str(tmp_path / "d"), "unused", "train", size=16)
    split = load_images(str(tmp_path / "d"), "unused", "train", size=16, on_wrong_size="resize")
    assert split.images.shape == (3, 3, 16, 16)


def test_missing_folder_and_missing_split(tmp_path):
    with pytest.raises(TzooError, match="--data.dir"):
        load_images(str(tmp_path / "nowhere"), "unused", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TzooError, match="no train-\\*.parquet"):
        load_images(str(tmp_path / "empty"), "unused", "train")


def test_decoded_split_is_cached(cifar_dir, monkeypatch):
    first = load_images(str(cifar_dir), "unused", "test", size=16)
    import tzoo.modalities.cifar as cifar

    monkeypatch.setattr(cifar, "_open_dataset", lambda *a: (_ for _ in ()).throw(AssertionError("decoded again")))
    again = load_images(str(cifar_dir), "unused", "test", size=16)
    assert torch.equal(first.images, again.images) and again.class_names == first.class_names

