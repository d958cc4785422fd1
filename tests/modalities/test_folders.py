"""imagefolder / audiofolder layouts -> Tables, and a one-line error for every bad folder."""
import json

import pytest

from tests.modalities.data_fixtures import class_folders, image, save, wav_folders
from tzoo.errors import TzooError
from tzoo.modalities.folders import read_folder


def test_class_folders_are_the_training_split(tmp_path):
    splits = read_folder(class_folders(tmp_path / "d", ("dog", "cat", "bird"), 2), "image")
    t = splits["train"]
    assert list(splits) == ["train"] and t.origin == "the whole folder"
    assert t.class_names == ["bird", "cat", "dog"]  # sorted folder names
    assert t.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert [t.name(i).split("/")[-2] for i in range(6)] == ["bird", "bird", "cat", "cat", "dog", "dog"]


def test_split_folders_share_the_training_class_names(tmp_path):
    class_folders(tmp_path / "train", ("a", "b", "c"), 2)
    class_folders(tmp_path / "val", ("a", "c"), 1)  # an alias of validation, fewer classes
    class_folders(tmp_path / "test", ("b",), 1)
    splits = read_folder(tmp_path, "image")
    assert set(splits) == {"train", "validation", "test"}
    assert splits["validation"].labels.tolist() == [0, 2]
    assert splits["test"].labels.tolist() == [1]
    assert splits["validation"].origin == "validation folder"


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_metadata_file_lists_files_and_labels(tmp_path, kind):
    root = tmp_path / "d"
    for i in range(4):
        save(image("RGB", value=i), root / "imgs" / f"{i}.jpg")
    rows = [("imgs/0.jpg", "10"), ("imgs/1.jpg", "9"), ("imgs/2.jpg", "10"), ("imgs/3.jpg", "9")]
    if kind == "csv":
        (root / "metadata.csv").write_text("file_name,label\n" + "".join(f"{f},{l}\n" for f, l in rows))
    else:
        (root / "metadata.jsonl").write_text("".join(json.dumps({"file_name": f, "label": l}) + "\n" for f, l in rows))
    t = read_folder(root, "image")["train"]
    assert t.class_names == ["9", "10"]  # integers sort numerically
    assert t.labels.tolist() == [1, 0, 1, 0]


def test_metadata_inside_split_folders(tmp_path):
    for split in ("train", "test"):
        for i in range(2):
            save(image(value=i), tmp_path / split / f"{i}.png")
        (tmp_path / split / "metadata.csv").write_text("file_name,label\n0.png,x\n1.png,y\n")
    splits = read_folder(tmp_path, "image")
    assert splits["test"].labels.tolist() == [0, 1] and splits["test"].class_names == ["x", "y"]


def test_audiofolder_reads_wavs_and_ignores_other_files(tmp_path):
    root = wav_folders(tmp_path / "a")
    (root / "one" / "notes.txt").write_text("not audio")
    (root / "one" / ".hidden.wav").write_bytes(b"junk")
    t = read_folder(root, "audio")["train"]
    assert len(t) == 6 and t.class_names == ["one", "two"]


def _empty_class(root):
    class_folders(root, ("a", "b"), 1)
    (root / "c").mkdir()
    (root / "c" / "readme.txt").write_text("x")


def _missing_file(root):
    class_folders(root, ("a", "b"), 1)
    (root / "metadata.csv").write_text("file_name,label\na/0.png,a\nb/7.png,b\n")


def _unknown_test_class(root):
    class_folders(root / "train", ("a", "b"), 1)
    class_folders(root / "test", ("a", "zebra"), 1)


@pytest.mark.parametrize("make, needle", [
    (lambda r: r.mkdir(), "empty"),
    (_empty_class, "c: class folder holds no image files"),
    (lambda r: class_folders(r, ("only",), 3), "only one class"),
    (_missing_file, "row 2 names 'b/7.png', which does not exist"),
    (_unknown_test_class, "['zebra'] are not in the training split"),
    (lambda r: class_folders(r / "test", ("a", "b"), 1), "no train/"),
    (lambda r: (class_folders(r, ("a", "b"), 1), save(image(), r / "loose.png")), "loose.png: a image file outside"),
])
def test_bad_folders_fail_in_one_line_naming_the_problem(tmp_path, make, needle):
    root = tmp_path / "d"
    make(root)
    with pytest.raises(TzooError) as e:
        read_folder(root, "image")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_folder(tmp_path):
    with pytest.raises(TzooError, match="no such folder"):
        read_folder(tmp_path / "nope", "audio")


def test_load_classification_on_a_folder_records_its_splits(tmp_path):
    from tzoo.modalities.userdata import load_classification

    class_folders(tmp_path / "train", ("a", "b"), 10)
    class_folders(tmp_path / "test", ("a", "b"), 2)
    splits, record = load_classification(tmp_path, "image", val_fraction=0.1, seed=0)
    assert record == {"train": {"size": 18, "from": "train folder, less the carved validation rows"},
                      "validation": {"size": 2, "from": "carved 10% of train, seed 0, stratified"},
                      "test": {"size": 4, "from": "test folder"}}
    assert splits["validation"].class_counts().tolist() == [1, 1]


def test_a_file_is_not_a_dataset(tmp_path):
    from tzoo.modalities.userdata import read_classification

    (tmp_path / "x.png").write_bytes(b"x")
    with pytest.raises(TzooError, match="not a folder"):
        read_classification(tmp_path / "x.png", "image")
