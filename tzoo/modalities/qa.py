"""qa data: your own mix of images, clips and text, each row a question with a text answer.

A dataset is a folder holding `train.jsonl` and optionally `validation.jsonl` / `test.jsonl`, one
JSON object a line:

    {"image": "img/cat.png", "audio": null, "text": "a photo", "question": "what is it?", "answer": "cat"}

`image` and `audio` are paths relative to the file (any image format / mode / size, any WAV; the
data layer's converters bring them to one size, channel count and rate), `text` is context; any of
the three may be missing or null in any row, but not all three. Other keys are ignored. Every row
is checked when read: a bad one is a one-line `TzooError` naming the file and line. A folder of
parquet files or a Hub id with those columns (image an Image feature, audio an Audio feature)
works too; its splits play the files' part.

Batch layout (only the input kinds the model reads are present):

    {"image": {"images": (B, C, S, S) uint8, "present": (B,) bool},
     "audio": {"wave": (B, T) float32, "lengths": (B,) int64, "present": (B,) bool},
     "text": {"ids": (B, Lt) int64, "mask": (B, Lt) bool},        # an absent text: all mask False
     "question": {"ids": (B, Lq) int64, "mask": (B, Lq) bool},
     "answer", "answer_in", "targets": see `answers.py`,
     "group": (B,) int64}                                          # the question's scoring group
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import Tensor

from ..errors import TzooError
from ..tokenizers.text import CharCodec
from .answers import BOS_CHAR, EOS_CHAR, answer_tensors, text_entry
from .clips import pad_batch
from .convert import AudioConverter, ImageConverter
from .decoded import Decoded, decode
from .streams import Stream, step_generator
from .table import RecordRows, Table

KINDS = ("image", "audio", "text")
FILES = {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"}
FIELDS = ("text", "question", "answer")


@dataclass(frozen=True)
class Limits:
    """The longest answer, question and context text (characters) a row may have, and the config
    keys that set them (named in errors)."""

    max_answer: int = 32
    max_question: int = 64
    max_text: int = 256


@dataclass
class Rows:
    """Checked rows of one manifest (or part of one).

    Attributes:
        source: the manifest file, or "SOURCE SPLIT" of a parquet folder / Hub dataset.
        lines: each row's line number in the file (row number in a dataset).
        image, audio: absolute paths (or `Record`s of a dataset) or None; text: context or None;
            question, answer: strings.
        origin: where the split came from, for metrics.json.
    """

    source: Path | str
    lines: list[int]
    image: list[Optional[Path | "Record"]]
    audio: list[Optional[Path | "Record"]]
    text: list[Optional[str]]
    question: list[str]
    answer: list[str]
    origin: str = ""

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, i: int) -> str:
        return f"{self.source}: {'line' if isinstance(self.source, Path) else 'row'} {self.lines[i]}"

    @property
    def label(self) -> str:
        """The file name, or the dataset split, for messages."""
        return self.source.name if isinstance(self.source, Path) else str(self.source)

    def subset(self, index: Sequence[int], origin: Optional[str] = None) -> "Rows":
        pick = lambda xs: [xs[int(i)] for i in index]  # noqa: E731
        return Rows(self.source, pick(self.lines), pick(self.image), pick(self.audio), pick(self.text),
                    pick(self.question), pick(self.answer), self.origin if origin is None else origin)

    def kinds(self) -> tuple[str, ...]:
        """The input kinds any row has, in KINDS order."""
        return tuple(k for k in KINDS if any(v is not None for v in getattr(self, k)))

    def chars(self) -> str:
        """Every character of the texts, questions and answers."""
        return "".join(set("".join(t or "" for t in self.text) + "".join(self.question) + "".join(self.answer)))


def _path(manifest: Path, where: str, key: str, value: Any) -> Optional[Path]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TzooError(f"{where}: {key!r} must be a file path (relative to the manifest) or null, got {value!r}")
    path = (manifest.parent / value).resolve()
    if not path.is_file():
        raise TzooError(f"{where}: {key} file {value!r} does not exist ({path}); fix the path "
                        f"(relative to {manifest.name}) or add the file")
    return path


def _string(where: str, record: dict, key: str, limit: int, setting: str) -> str:
    value = record.get(key)
    if value is None:
        raise TzooError(f"{where} has no {key!r}; every row needs a {key}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TzooError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    value = str(value)
    if not value.strip():
        raise TzooError(f"{where} has an empty {key}; give every row a non-empty {key}")
    if len(value) > limit:
        raise TzooError(f"{where}: the {key} is {len(value)} characters long; the model takes up to "
                        f"--model.{setting}={limit}; raise it or shorten the {key}")
    return value


def _records(manifest: Path) -> Iterator[tuple[int, Any]]:
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TzooError(f"{manifest}: cannot read ({e}); give a UTF-8 JSON-lines file") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise TzooError(f"{manifest}: line {n} is not JSON ({e.msg}); fix that line") from None


def check_row(where: str, record: Any, limits: Limits, resolve) -> tuple:
    """(image, audio, text, question, answer) of one record, checked; `resolve(key, value)` turns an
    image / audio value into a Path or Record (or None), raising for a bad one."""
    if not isinstance(record, dict):
        raise TzooError(f"{where} is not a JSON object; write one {{\"question\": ...}} per line")
    image, audio = resolve("image", record.get("image")), resolve("audio", record.get("audio"))
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise TzooError(f"{where}: 'text' must be a string or null, got {type(text).__name__}")
    text = text if text else None
    if image is None and audio is None and text is None:
        raise TzooError(f"{where} has neither image, audio nor text; give at least one")
    if text is not None and len(text) > limits.max_text:
        raise TzooError(f"{where}: the text is {len(text)} characters long; the model takes up to "
                        f"--model.max_text={limits.max_text}; raise it or shorten the text")
    question = _string(where, record, "question", limits.max_question, "max_question")
    answer = _string(where, record, "answer", limits.max_answer, "max_answer")
    return image, audio, text, question, answer


def _add(rows: Rows, n: int, values: tuple) -> None:
    for name, value in zip(("lines", "image", "audio", "text", "question", "answer"), (n, *values)):
        getattr(rows, name).append(value)


def read_manifest(manifest: Path, limits: Limits = Limits()) -> Rows:
    """Every row of a JSON-lines manifest, checked (see the module doc); a one-line error names the
    first bad row's file and line."""
    rows = Rows(manifest, [], [], [], [], [], [])
    for n, record in _records(manifest):
        where = f"{manifest}: line {n}"
        _add(rows, n, check_row(where, record, limits, lambda key, value: _path(manifest, where, key, value)))
    if not rows.lines:
        raise TzooError(f"{manifest}: no rows; write one JSON object per line")
    return rows


@dataclass(frozen=True)
class Record:
    """An image or clip held in a row of a parquet / Hub dataset ({"bytes", "path"} record)."""

    rows: RecordRows
    index: int

    @property
    def name(self) -> str:
        return self.rows.name(self.index)

    def read_bytes(self) -> bytes:
        return self.rows.read(self.index)


def read_dataset(ds: Any, where: str, limits: Limits = Limits()) -> Rows:
    """Every row of one split of a parquet folder / Hub dataset with columns question, answer and
    any of image (an Image feature or {"bytes", "path"}), audio (an Audio feature), text; checked."""
    import datasets

    missing = [c for c in ("question", "answer") if c not in ds.column_names]
    if missing:
        raise TzooError(f"{where}: no {missing[0]!r} column (columns: {', '.join(ds.column_names)}); qa needs "
                        "question and answer, and any of image, audio, text")
    for col, feature in (("image", datasets.Image(decode=False)), ("audio", datasets.Audio(decode=False))):
        if col in ds.column_names and type(ds.features[col]).__name__ in ("Image", "Audio"):
            ds = ds.cast_column(col, feature)
    refs = {c: RecordRows(ds, c, where) for c in ("image", "audio") if c in ds.column_names}

    def resolve(i: int, key: str, value: Any):
        if value is None:
            return None
        if not isinstance(value, dict) or not (value.get("bytes") or value.get("path")):
            raise TzooError(f"{where} row {i}: {key!r} must be an encoded file ({{'bytes', 'path'}}) or null")
        return Record(refs[key], i)

    rows = Rows(where, [], [], [], [], [], [])
    for i, record in enumerate(ds):
        _add(rows, i, check_row(f"{where} row {i}", record, limits, lambda k, v: resolve(i, k, v)))
    if not rows.lines:
        raise TzooError(f"{where}: no rows")
    return rows


# -- splits --------------------------------------------------------------------------------------------

def _carve(train: Rows, fraction: float, seed: int, what: str, salt: int) -> tuple[Rows, Rows]:
    n = len(train)
    k = max(1, round(n * fraction))
    if n - k < 1:
        raise TzooError(f"{train.source}: {n} rows are too few to carve a {what} split from; add rows or give "
                        f"the dataset a {what} split ({FILES[what]})")
    order = torch.randperm(n, generator=step_generator(seed, Stream.VAL_SPLIT, salt)).tolist()
    held, kept = sorted(order[:k]), sorted(order[k:])
    return train.subset(kept), train.subset(held, f"carved {fraction:.0%} of {train.label}, seed {seed}")


def dataset_folder(dataset: str) -> Path:
    """`--data.dataset`: a folder holding train.jsonl, else a one-line error."""
    if not dataset:
        raise TzooError("--data.dataset: give a folder holding train.jsonl (and optionally validation.jsonl, "
                        "test.jsonl), a folder of parquet files or a Hub id; see `tzoo train qa --help`")
    folder = Path(dataset).expanduser()
    if not (folder / FILES["train"]).is_file():
        what = "is not a folder" if not folder.is_dir() else "holds no train.jsonl"
        raise TzooError(f"--data.dataset={dataset}: {what}; give a folder holding train.jsonl")
    return folder


def read_splits(dataset: str, limits: Limits) -> dict[str, Rows]:
    """The splits a dataset has: its JSON-lines files, else the splits of a parquet folder / Hub id."""
    folder = Path(dataset).expanduser() if dataset else None
    looks_like_hub = bool(dataset) and not dataset.startswith((".", "/", "~")) and dataset.count("/") == 1
    if folder is not None and not (folder / FILES["train"]).is_file() and (folder.is_dir() or looks_like_hub):
        from .hub import open_dataset

        found = open_dataset(dataset)
        if "train" not in found:
            raise TzooError(f"{dataset}: no train split (splits: {sorted(found)}); name the files train-*.parquet")
        return {name: replace(read_dataset(found[name], f"{dataset} {name}", limits),
                              origin=f"{name} split of {dataset}") for name in FILES if name in found}
    folder = dataset_folder(dataset)
    return {name: replace(read_manifest(folder / file, limits), origin=file)
            for name, file in FILES.items() if (folder / file).is_file()}


def load_splits(dataset: str, limits: Limits, val_fraction: float = 0.1, test_fraction: float = 0.1,
                seed: int = 0) -> tuple[dict[str, Rows], dict[str, dict], Rows]:
    """The train / validation / test rows, where each came from, and every training row (before
    carving: the vocabulary's source). A split's own file (or dataset split) is used when there is
    one, else it is carved (seeded, test first) from the training rows."""
    splits = read_splits(dataset, limits)
    full = splits["train"]
    carved = []
    for what, fraction, salt in (("test", test_fraction, 1), ("validation", val_fraction, 0)):
        if what not in splits:
            if not 0 < fraction < 1:
                raise TzooError(f"--data.{'val' if what == 'validation' else 'test'}_fraction={fraction}: must be in "
                                f"(0, 1) when the dataset has no {what} split")
            splits["train"], splits[what] = _carve(splits["train"], fraction, seed, what, salt)
            carved.append(what)
    if carved:
        splits["train"].origin = f"{full.origin}, less the carved {' and '.join(reversed(carved))} rows"
    order = ("train", "validation", "test")
    return ({s: splits[s] for s in order}, {s: {"size": len(splits[s]), "from": splits[s].origin} for s in order},
            full)


def check_rows(rows: Rows, kinds: Sequence[str], codec: CharCodec, what: str = "the training rows") -> None:
    """Every row uses only input kinds in `kinds` and characters of `codec` (one-line error naming
    the file and line otherwise)."""
    for i in range(len(rows)):
        for kind in KINDS:
            if kind not in kinds and getattr(rows, kind)[i] is not None:
                raise TzooError(f"{rows.where(i)} has an {kind} input, which none of {what} has, so the model "
                                f"cannot read it; drop the {kind} or add training rows with one")
        for name in FIELDS:
            value = getattr(rows, name)[i] or ""
            unseen = sorted({c for c in value if c not in codec.index})
            if unseen:
                raise TzooError(f"{rows.where(i)}: the {name} has character(s) {''.join(unseen)!r} that {what} never "
                                "use, so the model has no id for them; remove them or add them to training rows")


def vocabulary(rows: Rows) -> CharCodec:
    """The characters of the training rows plus BOS and EOS (CharCodec's sorted id order: BOS = 0, EOS = 1)."""
    chars = rows.chars()
    bad = sorted({c for c in chars if c in (BOS_CHAR, EOS_CHAR)})
    if bad:
        raise TzooError(f"{rows.source}: the rows hold control character(s) {bad!r}, which mark answer starts "
                        "and ends; remove them")
    return CharCodec(chars + BOS_CHAR + EOS_CHAR)


# -- decoded sides ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class NamedRows:
    """Files named by their manifest line in messages ("train.jsonl: line 7: img/7.png")."""

    paths: tuple[Path, ...]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, i: int) -> bytes:
        try:
            return self.paths[i].read_bytes()
        except OSError as e:
            raise TzooError(f"{self.names[i]}: cannot read ({e.strerror or e}); restore or replace the file") from None

    def name(self, i: int) -> str:
        return self.names[i]


@dataclass(frozen=True)
class Inputs:
    """How raw inputs become tensors: the converters and the clip length limit."""

    image: ImageConverter
    audio: AudioConverter
    max_samples: int
    cache_gb: float = 4.0


def _decode_kind(rows: Rows, kind: str, conv, cache_gb: float) -> tuple[Optional[Decoded], Tensor]:
    have = [i for i, p in enumerate(getattr(rows, kind)) if p is not None]
    index = torch.full((len(rows),), -1, dtype=torch.long)
    if not have:
        return None, index
    index[have] = torch.arange(len(have))
    paths = tuple(getattr(rows, kind)[i] for i in have)
    names = tuple(f"{rows.where(i)}: {getattr(rows, kind)[i]}" if isinstance(rows.source, Path) else rows.where(i)
                  for i in have)
    labels = torch.zeros(len(have), dtype=torch.long)  # unused: a Table wants labels
    table = Table(kind, NamedRows(paths, names), labels, ["-"])  # type: ignore[arg-type]
    return decode(table, conv, cache_gb), index


@dataclass
class QaSide:
    """One split, decoded: images and clips (by policy, `decoded.py`), texts as ids, scoring groups.

    Attributes:
        rows: the split's rows.
        images, clips: the decoded inputs of the rows that have one (None: no row has one);
            image_index / clip_index (N,): a row's index into them, -1 = absent.
        texts, questions, answers: ids ([] = absent text; answers with BOS and EOS).
        groups: (N,) the question's group (see `question_groups`).
    """

    rows: Rows
    images: Optional[Decoded]
    image_index: Tensor
    clips: Optional[Decoded]
    clip_index: Tensor
    texts: list[list[int]]
    questions: list[list[int]]
    answers: list[list[int]]
    groups: Tensor
    group_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def note(self) -> str:
        parts = [f"{k}: {d.note()}" for k, d in (("images", self.images), ("clips", self.clips)) if d and d.note()]
        return "; ".join(parts)


def question_groups(questions: Sequence[str], min_asked: int) -> tuple[list[str], Tensor]:
    """The questions asked at least `min_asked` times (most asked first), and each row's group:
    its question's index among them, or len(them) ("other") for a rarer question."""
    counts: dict[str, int] = {}
    for q in questions:
        counts[q] = counts.get(q, 0) + 1
    names = sorted((q for q, c in counts.items() if c >= min_asked), key=lambda q: (-counts[q], q))
    index = {q: i for i, q in enumerate(names)}
    return names, torch.tensor([index.get(q, len(names)) for q in questions], dtype=torch.long)


def make_side(rows: Rows, codec: CharCodec, inputs: Inputs, min_asked: int = 20) -> QaSide:
    """Decode a split's images and clips (each checked once) and encode its texts."""
    images, image_index = _decode_kind(rows, "image", inputs.image, inputs.cache_gb)
    clips, clip_index = _decode_kind(rows, "audio", inputs.audio, inputs.cache_gb)
    bos, eos = codec.index[BOS_CHAR], codec.index[EOS_CHAR]
    names, groups = question_groups(rows.question, min_asked)
    return QaSide(rows, images, image_index, clips, clip_index, [codec.encode(t or "") for t in rows.text],
                  [codec.encode(q) for q in rows.question], [[bos, *codec.encode(a), eos] for a in rows.answer],
                  groups, names)


def make_batch(side: QaSide, index: Sequence[int], kinds: Sequence[str], inputs: Inputs, eos: int,
               present: Optional[Tensor] = None) -> dict:
    """The batch of rows `index` (module doc) with the model's input `kinds`; `present` (B, 3) bool,
    if given, further removes inputs (columns in KINDS order)."""
    idx = torch.as_tensor(list(index), dtype=torch.long)
    b = len(idx)
    keep = torch.ones(b, 3, dtype=torch.bool) if present is None else present
    batch: dict[str, Any] = {}
    if "image" in kinds:
        rows = side.image_index[idx]
        has = (rows >= 0) & keep[:, 0]
        conv = inputs.image
        images = torch.zeros(b, conv.channels, conv.size, conv.size, dtype=torch.uint8)
        if has.any():
            images[has] = side.images[rows[has]]  # type: ignore[index]
        batch["image"] = {"images": images, "present": has}
    if "audio" in kinds:
        rows = side.clip_index[idx]
        has = (rows >= 0) & keep[:, 1]
        waves = [side.clips[int(r)][: inputs.max_samples] if h else torch.zeros(0)  # type: ignore[index]
                 for r, h in zip(rows.tolist(), has.tolist())]
        wave, lengths = pad_batch(waves, max([w.numel() for w in waves] + [1]))
        batch["audio"] = {"wave": wave, "lengths": lengths, "present": has}
    if "text" in kinds:
        batch["text"] = text_entry([side.texts[i] if keep[j, 2] else [] for j, i in enumerate(idx.tolist())], eos)
    batch["question"] = text_entry([side.questions[i] for i in idx.tolist()], eos)
    batch.update(answer_tensors([side.answers[i] for i in idx.tolist()], eos))
    batch["group"] = side.groups[idx].clone()
    return batch


class QaBatches:
    """Training batches, batch `index` a pure function of (seed, index): the rows in a seeded order
    per epoch (each row once per epoch), with each present input dropped with probability `drop`
    (drawn from (seed, MODALITY_DROP, index)); rank r takes rows [r*batch_size, (r+1)*batch_size)."""

    unit = "examples"

    def __init__(self, side: QaSide, kinds: Sequence[str], inputs: Inputs, eos: int, batch_size: int, seed: int,
                 drop: float = 0.0) -> None:
        if batch_size < 1:
            raise TzooError(f"batch_size: must be >= 1, got {batch_size}")
        self.side, self.kinds, self.inputs, self.eos = side, tuple(kinds), inputs, eos
        self.batch_size, self.seed, self.drop = batch_size, seed, drop
        self._orders: dict[int, Tensor] = {}

    @property
    def epoch_size(self) -> int:
        """Training rows per epoch (what a budget in epochs, `--loop.epochs`, counts)."""
        return len(self.side)

    def order(self, epoch: int) -> Tensor:
        if epoch not in self._orders:
            if len(self._orders) > 4:
                self._orders.clear()
            g = step_generator(self.seed, Stream.PAIRING, epoch)
            self._orders[epoch] = torch.randperm(len(self.side), generator=g)
        return self._orders[epoch]

    def rows(self, index: int, world: int = 1) -> Tensor:
        """The global batch `index`'s rows (batch_size x world)."""
        n = len(self.side)
        positions = index * self.batch_size * world + torch.arange(self.batch_size * world)
        return torch.stack([self.order(int(p) // n)[int(p) % n] for p in positions])

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict:
        mine = slice(rank * self.batch_size, (rank + 1) * self.batch_size)
        u = torch.rand(self.batch_size * world, 3, generator=step_generator(self.seed, Stream.MODALITY_DROP, index))
        return make_batch(self.side, self.rows(index, world)[mine].tolist(), self.kinds, self.inputs, self.eos,
                          (u >= self.drop)[mine])

    def items(self, batch: dict) -> int:
        return int(batch["group"].shape[0])


def eval_batches(side: QaSide, kinds: Sequence[str], inputs: Inputs, eos: int, batch_size: int,
                 without: Optional[str] = None, rank: int = 0, world: int = 1,
                 limit: Optional[int] = None) -> Iterator[dict]:
    """The split in order (the first `limit` batches if given), batches dealt round-robin to
    processes; `without` removes one input kind from every row."""
    keep = torch.ones(batch_size, 3, dtype=torch.bool)
    if without is not None:
        keep[:, KINDS.index(without)] = False
    starts = list(range(0, len(side), batch_size))[:limit]
    for s in starts[rank::world]:
        rows = list(range(s, min(s + batch_size, len(side))))
        yield make_batch(side, rows, kinds, inputs, eos, keep[: len(rows)])
