"""Parquet folders / Hub ids through `datasets`: columns found from the features, audio decoded without
TorchCodec, one-line errors for wrong columns and an uncached Hub id offline."""
import io

import datasets
import numpy as np
import pytest
import torch

from tests.audio_fixtures import tone
from tests.modalities.data_fixtures import encode, image
from tzoo.errors import TzooError
from tzoo.modalities.convert import AudioConverter, ImageConverter
from tzoo.modalities.decoded import decode
from tzoo.modalities.hub import read_hub
from tzoo.modalities.userdata import load_classification

BYTES = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}


def write(folder, split, columns, features, cast=None):
    ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    for col, feature in (cast or {}).items():
        ds = ds.cast_column(col, feature)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))


def image_parquet(folder, splits=("train", "test"), n=6, mode="RGBA"):
    for s in splits:
        write(folder, s, {"img": [{"bytes": encode(image(mode, (12, 12), i)), "path": None} for i in range(n)],
                          "note": ["x"] * n, "label": [i % 3 for i in range(n)]},
              {"img": datasets.Image(), "note": datasets.Value("string"),
               "label": datasets.ClassLabel(names=["ant", "bee", "cow"])})
    return folder


def wav_bytes(seconds, rate, channels=1):
    x = tone(2, seconds, rate=rate)
    b = io.BytesIO()
    import soundfile as sf

    sf.write(b, np.stack([x] * channels, 1) if channels > 1 else x, rate, format="WAV", subtype="PCM_24")
    return b.getvalue()


def test_image_parquet_columns_from_features_and_decoded(tmp_path):
    splits = read_hub(image_parquet(tmp_path / "pq"), "image")
    assert set(splits) == {"train", "test"}
    t = splits["train"]
    assert t.class_names == ["ant", "bee", "cow"] and t.labels.tolist() == [0, 1, 2, 0, 1, 2]
    d = decode(t, ImageConverter(8, 3))
    assert d.cached.shape == (6, 3, 8, 8) and d.note() == "converted 6 RGBA -> RGB, 6 resized 12x12 -> 8x8"
    direct = ImageConverter(8, 3)(encode(image("RGBA", (12, 12), 4)), "x")
    assert torch.equal(d[4], direct)


def test_audio_parquet_decodes_with_the_projects_wav_reader(tmp_path):
    rows = [{"bytes": wav_bytes(0.1 + 0.05 * i, 44100, 2), "path": None} for i in range(4)]
    write(tmp_path / "aq", "train", {"audio": rows, "label": ["yes", "no", "yes", "no"]},
          {"audio": BYTES, "label": datasets.Value("string")}, cast={"audio": datasets.Audio(decode=False)})
    splits, record = load_classification(tmp_path / "aq", "audio", val_fraction=0.5, test_fraction=0.0,
                                         label_column="label")
    t = splits["train"]
    assert t.class_names == ["no", "yes"] and len(t) == 2 and len(splits["validation"]) == 2
    d = decode(t, AudioConverter(16000))
    for i in range(len(t)):
        row = int(t.name(i).split()[-1])  # "... train row 3"
        assert abs(len(d[i]) - 16000 * (0.1 + 0.05 * row)) <= 2
    assert "2-channel -> mono" in d.note() and record["validation"]["from"].startswith("carved 50%")


def test_named_column_of_the_wrong_type(tmp_path):
    with pytest.raises(TzooError, match=r"column 'note' is .*string.*, not an Image column"):
        read_hub(image_parquet(tmp_path / "pq"), "image", input_column="note")


def test_no_audio_column_in_an_image_dataset(tmp_path):
    with pytest.raises(TzooError, match="no Audio column"):
        read_hub(image_parquet(tmp_path / "pq"), "audio")


def test_label_column_that_cannot_hold_classes(tmp_path):
    write(tmp_path / "pq", "train", {"img": [{"bytes": encode(image()), "path": None}] * 2, "score": [0.5, 1.5]},
          {"img": datasets.Image(), "score": datasets.Value("float32")})
    with pytest.raises(TzooError, match="no ClassLabel column"):
        read_hub(tmp_path / "pq", "image")
    with pytest.raises(TzooError, match="column 'score' is .*float32.*not a ClassLabel"):
        read_hub(tmp_path / "pq", "image", label_column="score")


def test_hidden_test_labels(tmp_path):
    image_parquet(tmp_path / "pq", ("train",))
    write(tmp_path / "pq", "test", {"img": [{"bytes": encode(image()), "path": None}], "note": ["x"], "label": [-1]},
          {"img": datasets.Image(), "note": datasets.Value("string"),
           "label": datasets.ClassLabel(names=["ant", "bee", "cow"])})
    with pytest.raises(TzooError, match="test row 0: 1 rows have no valid label"):
        read_hub(tmp_path / "pq", "image")


def test_a_test_split_with_a_class_train_lacks(tmp_path):
    image_parquet(tmp_path / "pq", ("train",), n=2)  # labels ant, bee only
    image_parquet(tmp_path / "pq", ("test",), n=3)  # ant, bee, cow
    with pytest.raises(TzooError, match=r"holds classes \['cow'\] that the training split lacks"):
        load_classification(tmp_path / "pq", "image")


def test_uncached_hub_id_offline_is_one_line():
    with pytest.raises(TzooError) as e:
        load_classification("nobody-here/no-such-dataset", "image")
    assert str(e.value).startswith("nobody-here/no-such-dataset: could not load this Hub dataset")
    assert "Hugging Face cache" in str(e.value) and "\n" not in str(e.value)


def test_damaged_parquet(tmp_path):
    image_parquet(tmp_path / "pq", ("train",))
    (tmp_path / "pq" / "data" / "test-00000-of-00001.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(TzooError, match="test-00000-of-00001.parquet: not a readable parquet file"):
        read_hub(tmp_path / "pq", "image")
