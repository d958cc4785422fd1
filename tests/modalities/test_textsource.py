"""Text from a file, a folder of .txt files, or a parquet folder / Hub id with a text column."""
import datasets
import pytest

from tzoo.errors import TzooError
from tzoo.modalities.textsource import read_text_source


def parquet(folder, split, columns, features):
    (folder / "data").mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    ds.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


def test_a_file_splits_at_the_last_tenth(tmp_path):
    (tmp_path / "a.txt").write_text("x" * 90 + "y" * 10)
    s = read_text_source(tmp_path / "a.txt")
    assert s.train == "x" * 90 and s.validation == "y" * 10
    assert s.record["validation"] == {"size": 10, "from": f"last 10% of the text of {tmp_path / 'a.txt'}"}


def test_a_folder_of_txt_files_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("bbbb")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("cccc")
    (tmp_path / "a.txt").write_text("aaaa")
    s = read_text_source(tmp_path, val_fraction=0.25)
    assert s.train + s.validation == "aaaa\nbbbb\ncccc"
    assert "3 .txt files" in s.record["train"]["from"]


def test_dataset_validation_split_is_used(tmp_path):
    f = {"id": datasets.Value("int32"), "text": datasets.Value("string")}
    parquet(tmp_path / "pq", "train", {"id": [1, 2], "text": ["hello", "world"]}, f)
    parquet(tmp_path / "pq", "validation", {"id": [3], "text": ["held out"]}, f)
    s = read_text_source(tmp_path / "pq")
    assert s.train == "hello\nworld" and s.validation == "held out"
    assert s.record["validation"]["from"].startswith("validation split of")


def test_named_text_column_and_carved_validation(tmp_path):
    f = {"title": datasets.Value("string"), "body": datasets.Value("string")}
    parquet(tmp_path / "pq", "train", {"title": ["t"] * 2, "body": ["a" * 9, "b" * 10]}, f)
    with pytest.raises(TzooError, match=r"several text columns \['title', 'body'\]; pass text_column"):
        read_text_source(tmp_path / "pq")
    s = read_text_source(tmp_path / "pq", text_column="body")
    assert s.train + s.validation == "a" * 9 + "\n" + "b" * 10 and len(s.validation) == 2


def test_no_text_column(tmp_path):
    parquet(tmp_path / "pq", "train", {"n": [1, 2]}, {"n": datasets.Value("int64")})
    with pytest.raises(TzooError, match="no text column"):
        read_text_source(tmp_path / "pq")
    with pytest.raises(TzooError, match="'n' is not a text column"):
        read_text_source(tmp_path / "pq", text_column="n")


@pytest.mark.parametrize("make, needle", [
    (lambda p: p.mkdir(), "no .txt or .parquet files"),
    (lambda p: None, "no such file or folder"),
    (lambda p: (p.mkdir(), (p / "e.txt").write_text("  ")), "e.txt: file is empty"),
])
def test_bad_text_sources(tmp_path, make, needle):
    make(tmp_path / "src")
    with pytest.raises(TzooError, match=needle):
        read_text_source(tmp_path / "src")


def test_uncached_hub_id_offline():
    with pytest.raises(TzooError, match="^nobody-here/none: could not load this Hub dataset"):
        read_text_source("nobody-here/none")
