"""MNIST loading: the Hub layout, grayscale tensors, the carve of a test-only copy, clear errors."""
import pytest
import torch

from tests.mixing.conftest import write_mnist_parquet
from tzoo.errors import TzooError
from tzoo.modalities.mnist import HUB_ID, carve, load_mnist

LABELS = [i % 10 for i in range(50)]


def gray_digit(images: torch.Tensor) -> torch.Tensor:
    return ((images[:, 0, 14, 14].float() - 10) / 20).round().long()


def test_both_splits_load_as_grayscale_digits(tmp_path):
    write_mnist_parquet(tmp_path / "m", "train", LABELS)
    write_mnist_parquet(tmp_path / "m", "test", LABELS[:20])
    train, test, note = load_mnist(str(tmp_path / "m"))
    assert note == ""
    assert train.images.shape == (50, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (20, 1, 28, 28)
    assert train.class_names == [str(d) for d in range(10)]
    assert torch.equal(gray_digit(train.images), train.labels) and train.labels.tolist() == LABELS
    assert train.images[:, 0, 0, 0].tolist() == list(range(50))  # exact pixel values, row order kept


def test_a_test_only_copy_is_carved_stratified_and_fixed(tmp_path):
    labels = [d for d in range(10) for _ in range(4 + d % 2)]  # 4 or 5 per class, 45 rows
    write_mnist_parquet(tmp_path / "m", "test", labels)
    train, test, note = load_mnist(str(tmp_path / "m"), carve_test=9)
    assert "only the official test split" in note and "36" in note and "9 of them" in note
    assert len(train.labels) == 36 and len(test.labels) == 9
    ids = lambda s: set(s.images[:, 0, 0, 0].tolist())  # noqa: E731  (pixel (0, 0) = row index)
    assert ids(train) | ids(test) == set(range(45)) and not ids(train) & ids(test)
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.max() - counts.min() <= 1  # each class in proportion
    again_train, again_test, _ = load_mnist(str(tmp_path / "m"), carve_test=9)
    assert torch.equal(again_test.images, test.images) and torch.equal(again_train.labels, train.labels)


def test_carve_keeps_class_proportions():
    from tzoo.modalities.cifar import ImageSplit

    labels = torch.tensor([0] * 80 + [1] * 20)
    split = ImageSplit(torch.zeros(100, 1, 2, 2, dtype=torch.uint8), labels, ["0", "1"])
    train, test = carve(split, 10)
    assert torch.bincount(test.labels).tolist() == [8, 2] and len(train.labels) == 90
    assert torch.equal(carve(split, 10)[1].labels, test.labels)


def test_taken_from_tzoo_data(tmp_path, monkeypatch):
    write_mnist_parquet(tmp_path / "data" / "mnist", "test", LABELS)
    monkeypatch.setenv("TZOO_DATA", str(tmp_path / "data"))
    train, test, note = load_mnist(None, carve_test=10)
    assert len(train.labels) == 40 and len(test.labels) == 10 and note


def test_errors_name_the_flag_and_the_hub_id(tmp_path):
    with pytest.raises(TzooError, match=f"--data.mnist_dir.*{HUB_ID}"):
        load_mnist(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TzooError, match="no train-\\*.parquet or test-\\*.parquet.*--data.mnist_dir"):
        load_mnist(str(tmp_path / "empty"))
    write_mnist_parquet(tmp_path / "bad", "test", [0, 1, 2], names=["cat", "dog", "cow"])
    with pytest.raises(TzooError, match="not the digits 0-9"):
        load_mnist(str(tmp_path / "bad"), carve_test=1)
    write_mnist_parquet(tmp_path / "small", "test", LABELS[:10])
    with pytest.raises(TzooError, match="carved MNIST test split needs between 1 and 9 rows"):
        load_mnist(str(tmp_path / "small"), carve_test=10)


def test_offline_without_a_local_copy_says_what_to_pass():
    with pytest.raises(TzooError, match="--data.mnist_dir=FOLDER") as e:
        load_mnist(None, hub_id="nobody/no-such-mnist")
    assert "nobody/no-such-mnist" in str(e.value)
