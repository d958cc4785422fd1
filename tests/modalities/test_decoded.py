"""Decoding a Table: cached up front or by index gives the same rows; bad rows fail or are skipped."""
import pytest
import torch

from tests.modalities.data_fixtures import class_folders, wav_folders
from tzoo.errors import TzooError
from tzoo.modalities.convert import AudioConverter, ImageConverter
from tzoo.modalities.decoded import decode
from tzoo.modalities.folders import read_folder


def test_cached_and_on_demand_images_are_the_same_rows(tmp_path):
    t = read_folder(class_folders(tmp_path / "d", per_class=4, size=(16, 16)), "image")["train"]
    conv = ImageConverter(8, 3)
    cached, lazy = decode(t, conv, cache_gb=1.0), decode(t, conv, cache_gb=0.0)
    assert cached.cached is not None and cached.cached.shape == (8, 3, 8, 8)
    assert lazy.cached is None
    rows = torch.tensor([5, 0, 7, 5])
    assert torch.equal(cached.batch(rows), lazy.batch(rows))
    assert cached.note() == "converted 8 resized 16x16 -> 8x8"


def test_lazy_without_verify_reads_nothing_up_front(tmp_path):
    t = read_folder(class_folders(tmp_path / "d", per_class=2), "image")["train"]
    (tmp_path / "d" / "cat" / "0.png").write_bytes(b"broken")
    lazy = decode(t, ImageConverter(8), cache_gb=0.0, verify=False)
    assert lazy[1].shape == (3, 8, 8)
    with pytest.raises(TzooError, match="cat/0.png: not a readable image"):
        lazy[0]


def test_audio_rows_of_different_lengths(tmp_path):
    t = read_folder(wav_folders(tmp_path / "a"), "audio")["train"]
    cached, lazy = decode(t, AudioConverter(16000)), decode(t, AudioConverter(16000), cache_gb=1e-7)
    assert cached.cached is not None and lazy.cached is None  # 1e-7 GB = 100 bytes: too small to keep
    lengths = [len(x) for x in cached.batch(range(len(t)))]
    assert lengths == [1600, 2400, 3200] * 2
    assert all(torch.equal(a, b) for a, b in zip(cached.batch([4, 1]), lazy.batch([4, 1])))
    assert "resampled 8000 -> 16000 Hz" in cached.note()


def _corrupt(tmp_path):
    root = class_folders(tmp_path / "d", per_class=3)
    (root / "dog" / "1.png").write_bytes((root / "dog" / "1.png").read_bytes()[:60])
    return read_folder(root, "image")["train"]


def test_a_corrupt_image_among_good_ones_is_named(tmp_path):
    with pytest.raises(TzooError) as e:
        decode(_corrupt(tmp_path), ImageConverter(8))
    assert "dog/1.png: not a readable image" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("cache_gb", [1.0, 0.0])
def test_skip_bad_leaves_it_out_and_says_so(tmp_path, cache_gb, capsys):
    d = decode(_corrupt(tmp_path), ImageConverter(8), cache_gb=cache_gb, skip_bad=True)
    assert len(d) == 5 and d.labels.tolist() == [0, 0, 0, 1, 1]
    assert len(d.skipped) == 1 and d.skipped[0].endswith("dog/1.png")
    assert "skipped 1 unreadable" in d.note()
    assert "skipped 1 of 6 unreadable rows" in capsys.readouterr().err
    assert d.batch([3, 4]).shape == (2, 3, 8, 8)


def test_a_truncated_wav_among_good_ones(tmp_path):
    root = wav_folders(tmp_path / "a")
    (root / "two" / "2.wav").write_bytes((root / "two" / "2.wav").read_bytes()[:-500])
    t = read_folder(root, "audio")["train"]
    with pytest.raises(TzooError, match="two/2.wav: truncated WAV"):
        decode(t, AudioConverter(8000))
    assert len(decode(t, AudioConverter(8000), skip_bad=True)) == 5


def test_all_rows_bad(tmp_path):
    root = class_folders(tmp_path / "d", per_class=1)
    for p in root.rglob("*.png"):
        p.write_bytes(b"x")
    with pytest.raises(TzooError, match="none of the 2 rows is readable"):
        decode(read_folder(root, "image")["train"], ImageConverter(8), skip_bad=True)


@pytest.mark.parametrize("cache_gb", [1.0, 0.0])
def test_image_batches_take_a_decoded_table_whatever_the_policy(tmp_path, cache_gb):
    from tzoo.modalities.images import Augment, ImageBatches, eval_batches

    t = read_folder(class_folders(tmp_path / "d", per_class=4), "image")["train"]
    d = decode(t, ImageConverter(8), cache_gb=cache_gb)
    full = decode(t, ImageConverter(8), cache_gb=1.0).cached
    batches = ImageBatches(d, d.labels, 3, seed=0, augment=Augment(crop_padding=0, flip=False), num_classes=2)
    reference = ImageBatches(full, d.labels, 3, seed=0, augment=Augment(crop_padding=0, flip=False), num_classes=2)
    for step in range(4):
        assert torch.equal(batches.batch(step)["image"], reference.batch(step)["image"])
    got = torch.cat([b["image"] for b in eval_batches(d, d.labels, 3)])
    assert torch.equal(got, full)
