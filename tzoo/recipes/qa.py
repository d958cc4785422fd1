"""Recipe `qa`: your own mix of images, clips and context text, each row a question answered in text.

    tzoo train qa --data.dataset=DIR        # DIR/train.jsonl [+ validation.jsonl, test.jsonl]

The inputs a row has (image patches, mel slices, context characters; each kind its own type id)
and its question's characters form one token set; the inputs it lacks are absent (masked out, no
effect on the answer). The answer is generated as text, as in av-digits (`--model.fusion=prefix`
or `encdec`), with av-digits' tokenizers, presence masks and answer generation.

The vocabulary is the characters of train.jsonl (saved as vocab.json); a question, context or
answer with a character outside it is refused in one line (at training for validation / test rows,
at `predict` and `eval` for what you give). `predict` warns when a question is far from every
training question (saved as qa.json), naming the nearest ones; `strict=True` / `--strict` makes it
an error. An image of another size is converted as in training (`--data.fit`), with a note;
`resize=False` / `--no-resize` refuses it.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional

import numpy as np
import torch
from torch import Tensor

from ..backbone import BackboneConfig
from ..devices import to_device
from ..errors import TzooError
from ..modalities.answers import BOS_CHAR, EOS_CHAR, decode_ids
from ..modalities.convert import AudioConverter, ImageConverter
from ..modalities.qa import (FILES, KINDS, Inputs, Limits, QaBatches, QaSide, Rows, check_rows, eval_batches,
                             load_splits, make_batch, make_side, read_manifest, vocabulary)
from ..storage import write_text
from ..tasks import TzooModel
from ..tasks.answer import generate_answer
from ..tokenizers import CharCodec, TextTokenizer
from ..tokenizers.audio import AudioTokenizer, MelConfig
from ..tokenizers.image import ImageTokenizer
from ..tokenizers.presence import MaybeAbsent
from ..tokenizers.types import TEXT
from .answering import answer_parts, answer_sums, check_taught
from .base import Loaded, RecipeBase, TaskData, TaskHead
from .plots import accuracy_table
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig

TASK = "qa"
RUN_FILE = "qa.json"  # the input kinds the model reads and the training questions (with counts)
INPUT_OPTIONS = ("image", "audio", "text", "prompt")  # predict options that give one input
EXAMPLES = 12


@dataclass
class QaDataConfig:
    """Where the rows are and how their inputs are read.

    Attributes:
        dataset: folder holding train.jsonl and optionally validation.jsonl / test.jsonl (rows
            {"image", "audio", "text", "question", "answer"}, paths relative to the file).
        image_size: images are converted to image_size x image_size (any size, mode, format).
        channels: 3 (RGB) or 1 (greyscale).
        fit: "crop" (scale the shorter side, keep the centre) or "squash" (stretch).
        max_seconds: clips (any rate, channels, length) are resampled to --mel.rate and cut to this.
        val_fraction: without validation.jsonl, this share of train.jsonl is carved (seeded) for validation.
        test_fraction: without test.jsonl, this share of train.jsonl is carved (seeded) for the test.
        split_seed: seed of the carving.
        drop: in training, each input a row has is dropped with this probability (modality dropout).
        min_asked: questions asked at least this often get their own exact match in metrics.json.
        cache_gb: decoded images and clips are kept in memory when they fit in this many GB.
    """

    dataset: str = ""
    image_size: int = 32
    channels: int = 3
    fit: Literal["crop", "squash"] = "crop"
    max_seconds: float = 2.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    drop: float = 0.0
    min_asked: int = 20
    cache_gb: float = 4.0

    def validate(self) -> None:
        if self.image_size < 1 or self.channels not in (1, 3):
            raise ValueError(f"image_size, channels: need image_size >= 1 and channels 1 or 3, got "
                             f"{self.image_size}, {self.channels}")
        if not 0 < self.max_seconds <= 600:
            raise ValueError(f"max_seconds: must be in (0, 600], got {self.max_seconds}")
        for key in ("val_fraction", "test_fraction", "drop"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"{key}: must be in [0, 1), got {getattr(self, key)}")
        if self.min_asked < 1 or self.cache_gb < 0:
            raise ValueError(f"min_asked, cache_gb: need min_asked >= 1 and cache_gb >= 0, got "
                             f"{self.min_asked}, {self.cache_gb}")


@dataclass
class QaModelConfig:
    """Tokens and answers.

    Attributes:
        patch_size: side of an image patch (must divide --data.image_size; with "conv", a power of two).
        image_stem: "linear" (one matrix per patch) or "conv" (strided convolutions).
        stem_channels: width of the conv stem's first convolution.
        fusion: "prefix" (inputs, question and answer in one set, the answer causal) or "encdec"
            (the inputs and question encoded alone, the answer decoded with cross-attention).
        max_answer: the longest answer in characters (a longer one in the data is refused).
        max_question: the longest question in characters.
        max_text: the longest context text in characters.
    """

    patch_size: int = 8
    image_stem: Literal["linear", "conv"] = "linear"
    stem_channels: int = 32
    fusion: Literal["prefix", "encdec"] = "prefix"
    max_answer: int = 32
    max_question: int = 64
    max_text: int = 256

    def validate(self) -> None:
        p = self.patch_size
        if p < 1 or (self.image_stem == "conv" and p & (p - 1)):
            raise ValueError(f"patch_size: must be >= 1 (a power of two with the conv stem), got {p}")
        for key in ("max_answer", "max_question", "max_text", "stem_channels"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1, got {getattr(self, key)}")


@dataclass
class QaConfig:
    data: QaDataConfig = field(default_factory=QaDataConfig)
    model: QaModelConfig = field(default_factory=QaModelConfig)
    mel: MelConfig = field(default_factory=lambda: MelConfig(n_mels=40))
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def limits(self) -> Limits:
        m = self.model
        return Limits(m.max_answer, m.max_question, m.max_text)

    def inputs(self) -> Inputs:
        d = self.data
        return Inputs(ImageConverter(d.image_size, d.channels, d.fit), AudioConverter(self.mel.rate),
                      max(round(d.max_seconds * self.mel.rate), 1), d.cache_gb)

    def audio_tokens(self) -> int:
        return self.mel.tokens(max(round(self.data.max_seconds * self.mel.rate), 1))

    def image_tokens(self) -> int:
        s, p = self.data.image_size, self.model.patch_size
        if s % p:
            raise TzooError(f"--model.patch_size={p} must divide --data.image_size={s}")
        return (s // p) ** 2


def qa_head(cfg: QaConfig, vocab_size: int, kinds: tuple[str, ...]) -> TaskHead:
    """The input kinds the data has (in KINDS order), then the question; answer characters decoded after."""
    m, d = cfg.model, cfg.data
    half = (0.5,) * d.channels

    def make(dim: int):
        made = {"image": lambda: MaybeAbsent(ImageTokenizer(m.patch_size, dim, d.channels, half, half,
                                                            stem=m.image_stem,
                                                            stem_channels=m.stem_channels)),
                "audio": lambda: MaybeAbsent(AudioTokenizer(cfg.mel, dim, cfg.audio_tokens())),
                "text": lambda: TextTokenizer(vocab_size, dim, TEXT)}
        return answer_parts(dim, vocab_size, {k: made[k]() for k in kinds}, m.fusion)

    sizes = {"--model.max_text": m.max_text, "--model.max_question": m.max_question,
             "--model.max_answer": m.max_answer + 1}
    if "image" in kinds:
        sizes["--data.image_size / --model.patch_size"] = cfg.image_tokens()
    if "audio" in kinds:
        sizes[f"--data.max_seconds={d.max_seconds:g}"] = cfg.audio_tokens()
    source = max(sizes, key=sizes.get)
    return TaskHead(sizes[source], make, source)


# -- scoring --------------------------------------------------------------------------------------

def exact_match(sums: dict[str, Tensor], names: list[str], prefix: str) -> dict[str, Any]:
    """`{prefix}_exact_match` over every row and `{prefix}_exact_match_by` per often-asked question."""
    seen, right = sums["seen"], sums["right"]
    return {f"{prefix}_exact_match": float(right.sum() / seen.sum().clamp(min=1)),
            f"{prefix}_exact_match_by": {q: round(float(right[i] / seen[i].clamp(min=1)), 4)
                                         for i, q in enumerate(names) if seen[i] > 0}}


def conditions(kinds: tuple[str, ...]) -> list[tuple[str, Optional[str]]]:
    """("as given", None) and ("without KIND", KIND) for every input kind the model reads."""
    return [("as given", None)] + [(f"without {k}", k) for k in kinds]


def qa_data(cfg: QaConfig, sides: dict[str, QaSide], kinds: tuple[str, ...], eos: int, codec: CharCodec,
            record: dict) -> TaskData:
    """Training batches; validation exact match (the checkpoint monitor); the test, as given and
    with each input kind removed; accuracy.png and examples.txt."""
    bs, inputs = cfg.loop.batch_size, cfg.inputs()
    val, test = sides["validation"], sides["test"]
    source = QaBatches(sides["train"], kinds, inputs, eos, bs, cfg.loop.seed, cfg.data.drop)

    def validate(m: TzooModel, task: str, final: bool, rank: int, world: int) -> dict[str, Tensor]:
        limit = None if final or cfg.loop.eval_batches == 0 else cfg.loop.eval_batches * world
        return answer_sums(m, task, eval_batches(val, kinds, inputs, eos, bs, None, rank, world, limit), "group",
                           len(val.group_names) + 1)

    def summarize(sums: dict[str, Tensor]) -> dict[str, Any]:
        return {"val_loss": float(sums["loss_sum"] / sums["chars"].clamp(min=1)),
                **exact_match(sums, val.group_names, "val")}

    def score_test(m: TzooModel, task: str, rank: int, world: int) -> dict[str, Tensor]:
        out = {}
        for name, without in conditions(kinds):
            sums = answer_sums(m, task, eval_batches(test, kinds, inputs, eos, bs, without, rank, world), "group",
                               len(test.group_names) + 1)
            out.update({f"{name}/{k}": v for k, v in sums.items()})
        return out

    def summarize_test(sums: dict[str, Tensor]) -> dict[str, Any]:
        return test_summary(sums, test, kinds, record)

    def finish(m: TzooModel, task: str, run: RunDir, summary: dict) -> None:
        draw_table(summary, run / "accuracy.png")
        lines = examples_text(m, task, cfg, test, kinds, codec)
        write_text(run / "examples.txt", "\n".join(lines) + "\n")
        print("\n".join(lines[:6]), flush=True)

    return TaskData(source, validate, summarize, monitor="val_exact_match", higher_is_better=True, test=score_test,
                    summarize_test=summarize_test, finish=finish)


def test_summary(sums: dict[str, Tensor], test: QaSide, kinds: tuple[str, ...], record: dict) -> dict[str, Any]:
    """metrics.json's test figures: exact match as given (overall and per often-asked question), and
    overall with each input kind removed; the splits' record and the decoding note."""
    pick = lambda name: {k: sums[f"{name}/{k}"] for k in ("seen", "right")}  # noqa: E731
    out = exact_match(pick("as given"), test.group_names, "test")
    out["test_exact_match_without"] = {k: exact_match(pick(n), [], "t")["t_exact_match"]
                                       for n, k in conditions(kinds)[1:]}
    by = {q: {n: exact_match(pick(n), test.group_names, "t")["t_exact_match_by"].get(q) for n, _ in conditions(kinds)}
          for q in out["test_exact_match_by"]}
    by["all questions"] = {n: exact_match(pick(n), [], "t")["t_exact_match"] for n, _ in conditions(kinds)}
    out.update({"test_table": by, "test_examples": len(test), "splits": record})
    return out


def draw_table(summary: dict, path: Path) -> None:
    accuracy_table(summary["test_table"], path, f"exact match on the test rows (%), {summary['test_examples']} rows")


def _describe(rows: Rows, i: int) -> str:
    parts = [f"image {rows.image[i].name}" if rows.image[i] else "",
             f"audio {rows.audio[i].name}" if rows.audio[i] else "",
             f"text {rows.text[i][:30]!r}" if rows.text[i] else ""]
    return ", ".join(p for p in parts if p)


def examples_text(model: TzooModel, task: str, cfg: QaConfig, side: QaSide, kinds: tuple[str, ...],
                  codec: CharCodec) -> list[str]:
    """The first test rows: inputs, question, the generated and the true answer."""
    rows = list(range(min(EXAMPLES, len(side))))
    bos, eos = codec.index[BOS_CHAR], codec.index[EOS_CHAR]
    batch = make_batch(side, rows, kinds, cfg.inputs(), eos)
    device = next(model.parameters()).device
    conditioning = to_device({k: batch[k] for k in (*kinds, "question")}, device)
    ids = generate_answer(model, conditioning, bos, eos, cfg.model.max_answer + 1, task)
    return [f"[{_describe(side.rows, i)}] {side.rows.question[i]} -> {decode_ids(ids[j].tolist(), codec, bos, eos)} "
            f"(true: {side.rows.answer[i]})" for j, i in enumerate(rows)]


# -- predict inputs ---------------------------------------------------------------------------------

def _image_bytes(value: Any, where: str) -> bytes:
    """A path, PIL image or array (H, W), (H, W, C) or (C, H, W) -> encoded PNG / file bytes."""
    from PIL import Image

    if isinstance(value, (str, Path)):
        return _file_bytes(Path(value), where)
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        a = value
        if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
            a = a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.dtype != np.uint8:
            a = np.clip(np.rint(a * (255 if float(np.nanmax(a, initial=0)) <= 1 else 1)), 0, 255).astype(np.uint8)
        try:
            value = Image.fromarray(a)
        except (TypeError, ValueError) as e:
            raise TzooError(f"{where}: an image array must be (H, W), (H, W, C) or (C, H, W); "
                            f"got {value.shape} ({e})") from None
    if isinstance(value, Image.Image):
        out = io.BytesIO()
        value.save(out, format="PNG")
        return out.getvalue()
    raise TzooError(f"{where}: give an image as a file path, a PIL image or an array, not {type(value).__name__}")


def _file_bytes(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TzooError(f"{where}: {path}: file not found") from None
    except OSError as e:
        raise TzooError(f"{where}: {path}: cannot read ({e.strerror or e})") from None


def _wave(value: Any, where: str, conv: AudioConverter) -> Tensor:
    """A WAV path, or an array of mono samples at the run's --mel.rate, as (T,) float32."""
    if isinstance(value, (str, Path)):
        return conv(_file_bytes(Path(value), where), f"{where}: {value}")
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        wave = torch.as_tensor(np.asarray(value, dtype=np.float32)).flatten()
        if not torch.isfinite(wave).all():
            raise TzooError(f"{where}: the audio array holds NaN or infinite samples")
        return wave
    raise TzooError(f"{where}: give audio as a WAV path or an array of samples at {conv.rate} Hz, "
                    f"not {type(value).__name__}")


def _checked_text(value: Any, name: str, codec: CharCodec, limit: int, setting: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        hint = ", e.g. --prompt \"what is it?\"" if name == "question" else ""
        raise TzooError(f"{where}: {name}: give a non-empty string{hint}")
    unseen = sorted({c for c in value if c not in codec.index})
    if unseen:
        raise TzooError(f"{where}: the {name} has character(s) {''.join(unseen)!r} that never appear in the training "
                        "rows, so the model has no id for them; leave them out")
    if len(value) > limit:
        raise TzooError(f"{where}: the {name} is {len(value)} characters long; the model takes up to {limit} "
                        f"(--model.{setting})")
    return value


def _check_size(raw: bytes, size: int, resize: bool, where: str) -> None:
    """A note on stderr when an image is not `size` x `size` (it is converted as in training), or with
    `resize` False a one-line error. An unreadable image is left to the converter's error."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - the converter names what is wrong with it
        return
    if (w, h) == (size, size):
        return
    if not resize:
        raise TzooError(f"{where}: image is {w}x{h}, the model expects {size}x{size}; resize it, or leave out "
                        "--no-resize (resize=False) to let predict convert it as in training")
    print(f"tzoo: {where}: {w}x{h} image converted to the model's {size}x{size} (as in training)", file=sys.stderr)


def predict_side(cfg: QaConfig, rows: list[Mapping[str, Any]], kinds: tuple[str, ...], codec: CharCodec,
                 resize: bool = True) -> QaSide:
    """Rows given to `predict` as a decoded side (images and clips converted as in training; an image
    of another size than the model's with a note, or refused if not `resize`)."""
    inputs, m = cfg.inputs(), cfg.model
    images, clips, texts, questions = [], [], [], []
    image_index, clip_index = [], []
    for n, row in enumerate(rows):
        where = f"input {n}" if len(rows) > 1 else "predict"
        if not isinstance(row, Mapping):
            raise TzooError(f"{where}: give each input as a dict like {{\"image\": PATH, \"question\": TEXT}}, "
                            f"not {type(row).__name__} (on the command line: --image/--audio/--text/--prompt)")
        unknown = sorted(set(row) - {"image", "audio", "text", "question", "prompt"})
        if unknown:
            raise TzooError(f"{where}: unknown key {unknown[0]!r}; an input has image, audio, text and question")
        given = [k for k in KINDS if row.get(k) is not None and not (k == "text" and row[k] == "")]
        if not given:
            raise TzooError(f"{where}: give an image, audio and / or text with the question (--image/--audio/--text)")
        lacking = [k for k in given if k not in kinds]
        if lacking:
            raise TzooError(f"{where}: this run was trained without {lacking[0]} inputs (it reads: "
                            f"{', '.join(kinds)}); leave the {lacking[0]} out")
        question = row.get("question", row.get("prompt"))
        question = _checked_text(question, "question", codec, m.max_question, "max_question", where)
        questions.append(codec.encode(question))
        text = row.get("text")
        texts.append(codec.encode(_checked_text(text, "text", codec, m.max_text, "max_text", where)) if text else [])
        image_index.append(len(images) if row.get("image") is not None else -1)
        if row.get("image") is not None:
            raw = _image_bytes(row["image"], where)
            _check_size(raw, cfg.data.image_size, resize, where)
            images.append(inputs.image(raw, f"{where}: image"))
        clip_index.append(len(clips) if row.get("audio") is not None else -1)
        if row.get("audio") is not None:
            clips.append(_wave(row["audio"], where, inputs.audio))
    n = len(rows)
    bos, eos = codec.index[BOS_CHAR], codec.index[EOS_CHAR]
    empty = Rows(Path("predict"), list(range(n)), [None] * n, [None] * n, [None] * n, [""] * n, [""] * n)
    return QaSide(empty, torch.stack(images) if images else None, torch.tensor(image_index), clips or None,
                  torch.tensor(clip_index), texts, questions, [[bos, eos]] * n, torch.zeros(n, dtype=torch.long))


class QaRecipe(RecipeBase):
    """Rows of image / audio / text + a question from a JSON-lines manifest; answers generated as text."""

    name = "qa"
    task = TASK
    headline = ("test_exact_match", True)
    modalities = ("image", "audio", "text")
    hub_task = "any-to-any"
    summary = "your own images, clips and text + a question per row (JSON lines), answered in text"
    verbs = ("predict", "eval")
    option_defaults = {"predict": {**dict.fromkeys(INPUT_OPTIONS), "strict": False, "resize": True}}
    eval_keys = ("data.dataset", "data.cache_gb")

    def task_parts(self, cfg: QaConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        splits, record, full_train = load_splits(cfg.data.dataset, cfg.limits(), cfg.data.val_fraction,
                                                 cfg.data.test_fraction, cfg.data.split_seed)
        codec, kinds = vocabulary(full_train), full_train.kinds()
        for name in ("validation", "test"):
            check_rows(splits[name], kinds, codec, f"the rows of {full_train.label}")
        if "image" in kinds:
            cfg.image_tokens()  # a patch size that does not divide the image: say so before decoding
        sides = {name: make_side(rows, codec, cfg.inputs(), cfg.data.min_asked) for name, rows in splits.items()}
        if is_main:
            for name, side in sides.items():
                if side.note():
                    print(f"tzoo: {name}: {side.note()}", flush=True)
            codec.save(run.path)
            counts: dict[str, int] = {}
            for q in splits["train"].question:
                counts[q] = counts.get(q, 0) + 1
            run.save_json(RUN_FILE, {"inputs": list(kinds), "questions": counts})
        eos = codec.index[EOS_CHAR]
        return qa_head(cfg, codec.vocab_size, kinds), qa_data(cfg, sides, kinds, eos, codec, record)

    def task_head(self, cfg: QaConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        codec = CharCodec.load(run.path)
        saved = run.load_json(RUN_FILE, "qa inputs and questions")
        kinds = tuple(k for k in KINDS if k in saved.get("inputs", ()))
        return qa_head(cfg, codec.vocab_size, kinds), {"codec": codec, "inputs": kinds,
                                                       "questions": list(saved.get("questions", {}))}

    def predict(self, loaded: Loaded, cfg: QaConfig, inputs: list, **options: Any) -> list[dict]:
        """Answers, one per input: `inputs` are dicts {"image", "audio", "text", "question"} (an image as
        a path, PIL image or array; audio as a WAV path or samples at --mel.rate; any may be left out),
        or empty with the options image=, audio=, text=, prompt= (the CLI's). A question far from every
        training question draws a warning; strict=True makes it an error. An image of another size is
        converted as in training, with a note; resize=False refuses it."""
        o = self.verb_options("predict", options)
        given = {k: o[k] for k in INPUT_OPTIONS if o[k] is not None}
        if inputs and given:
            raise TzooError("predict: give inputs as dicts or as image=/audio=/text=/prompt=, not both")
        rows = list(inputs) or [given]
        if any(isinstance(r, (str, Path)) for r in rows):
            raise TzooError("qa predicts from --image/--audio/--text/--prompt (Python: dicts with those keys), "
                            "not positional files")
        art = loaded.artefacts
        codec, kinds = art["codec"], art["inputs"]
        side = predict_side(cfg, rows, kinds, codec, bool(o["resize"]))
        for row in rows:
            check_taught(row.get("question", row.get("prompt")), art["questions"], bool(o["strict"]))
        bos, eos = codec.index[BOS_CHAR], codec.index[EOS_CHAR]
        batch = make_batch(side, range(len(rows)), kinds, cfg.inputs(), eos)
        conditioning = to_device({k: batch[k] for k in (*kinds, "question")}, loaded.device)
        ids = generate_answer(loaded.model, conditioning, bos, eos, cfg.model.max_answer + 1, loaded.task)
        return [{"input": dict(row), "answer": decode_ids(ids[i].tolist(), codec, bos, eos)}
                for i, row in enumerate(rows)]

    def evaluate(self, loaded: Loaded, cfg: QaConfig, overrides: dict[str, str]) -> dict:
        """Exact match on the run's test rows, or with --data.dataset=OTHER on OTHER's test.jsonl (else
        on the test rows carved from its train.jsonl as training would), or with --data.dataset=FILE.jsonl
        on every row of FILE."""
        from ..config import apply_overrides

        cfg = apply_overrides(cfg, self.eval_overrides(overrides))
        art = loaded.artefacts
        codec, kinds = art["codec"], art["inputs"]
        path = Path(cfg.data.dataset).expanduser()
        if path.is_dir() and (path / FILES["test"]).is_file():
            path = path / FILES["test"]
        if path.is_file():
            rows = read_manifest(path, cfg.limits())
            record = {"test": {"size": len(rows), "from": str(path)}}
        else:
            splits, record, _ = load_splits(cfg.data.dataset, cfg.limits(), cfg.data.val_fraction,
                                            cfg.data.test_fraction, cfg.data.split_seed)
            rows, record = splits["test"], {"test": record["test"]}
        check_rows(rows, kinds, codec, "the training rows")
        side = make_side(rows, codec, cfg.inputs(), cfg.data.min_asked)
        eos = codec.index[EOS_CHAR]
        data = qa_data(cfg, {"train": side, "validation": side, "test": side}, kinds, eos, codec, record)
        return data.summarize_test(data.test(loaded.model, loaded.task or TASK, 0, 1))


def _cpu() -> QaConfig:
    """A 2-core CPU: 4 blocks of 128, 32x32 images in 8x8 patches (16 tokens), 3000 steps of 64 rows."""
    return QaConfig(
        backbone=BackboneConfig(dim=128, depth=4, heads=4, dropout=0.0),
        loop=LoopConfig(batch_size=64, max_steps=3000, eval_every=250, save_every=500, log_every=100),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=100, weight_decay=0.05),
    )


QA = QaRecipe({"cpu": _cpu})
