"""Recipe `av-digits`: a handwritten digit, a spoken digit and a text question in one token set; the
answer is generated as text by the shared backbone with the prefix pattern.

Image patches + mel slices + question characters (each kind its own type id; an absent input is an
all-padding set) form the bidirectional prefix; the answer characters are decoded causally.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..backbone import BackboneConfig
from ..devices import to_device
from ..errors import TzooError
from ..modalities.av_digits import (BOS_ID, CODEC, CONDITIONS, EOS_ID, KINDS, AvSide, AvSides, Degrade,
                                    decode_answer, eval_batches, eval_examples, kind_ids, load_sides)
from ..modalities.augment import Affine
from ..modalities.mnist import HUB_ID
from ..storage import write_text
from ..tasks import LanguageModelTask, TzooModel
from ..tasks.answer import generate_answer
from ..tokenizers import TextTokenizer
from ..tokenizers.audio import AudioTokenizer, MelConfig
from ..tokenizers.image import ImageTokenizer
from ..tokenizers.presence import MaybeAbsent
from ..tokenizers.types import ANSWER, QUESTION
from .base import Loaded, RecipeBase, TaskData, TaskHead, build_model
from .plots import accuracy_table
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig

TASK = "qa"
INPUTS = ("image", "audio", "question", "answer_in")
MAX_ANSWER = 10  # characters of the longest answer ("eighteen") + EOS, with room
MAX_QUESTION = 64


@dataclass
class AvDataConfig:
    """Images, clips and questions.

    Attributes:
        mnist_dir: folder of MNIST parquet (Hub layout); unset = $TZOO_DATA/mnist, else the Hub id.
        hub_id: MNIST on the Hugging Face Hub.
        fsdd_dir: folder of FSDD WAVs; unset = $TZOO_DATA/fsdd/recordings.
        kinds: question kinds trained on (written, spoken, match, sum, fused), drawn uniformly from
            this list: a kind listed twice is asked twice as often (each is scored once).
        shift: training images move by up to this many pixels each way (zero fill); 0 = off.
        drop: modality dropout of single-modality questions (written loses its audio, spoken its image).
        fused_drop: probability that a fused question loses one input in training.
        eval_examples: fixed examples per question kind scored on validation (checkpoint choice).
        test_examples: fixed examples per question kind in the test table (1,000: a standard error
            of about 0.5 points near 97%).
        max_seconds: clips are cut to this length.
        val_images: MNIST training images held out (class-stratified) for validation.
        carve_test: when only MNIST's official test split is there, this many of its images are the
            test side and the rest the training side (fixed, class-stratified).
    """

    mnist_dir: Optional[str] = None
    hub_id: str = HUB_ID
    fsdd_dir: Optional[str] = None
    kinds: tuple[str, ...] = KINDS
    shift: int = 0
    drop: float = 0.25
    fused_drop: float = 0.25
    eval_examples: int = 200
    test_examples: int = 1000
    max_seconds: float = 1.5
    val_images: int = 1000
    carve_test: int = 2000

    def validate(self) -> None:
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise ValueError(f"kinds: unknown question kind {bad[0]!r}; kinds: {', '.join(KINDS)}")
        if not 0 <= self.shift <= 14:
            raise ValueError(f"shift: must be in [0, 14] pixels, got {self.shift}")
        for key in ("eval_examples", "test_examples"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1, got {getattr(self, key)}")


@dataclass
class AvModelConfig:
    """How the inputs are fused.

    Attributes:
        patch_size: side of an image patch: with the "linear" stem 28 must be a multiple; with "conv"
            a power of two, the 28x28 digit zero-padded to the next multiple (8: 32x32, 4x4 tokens).
        image_stem: "linear" (one matrix per patch, as ViT) or "conv" (3x3 stride-2 convolutions,
            a token also seeing its neighbours' pixels).
        stem_channels: width of the conv stem's first convolution.
        fusion: "prefix": image, audio and question tokens and the answer in one set, the set
            attended bidirectionally and the answer causally; "encdec": the set encoded alone
            (full attention), the answer decoded with cross-attention to the encoder's final
            states. Both use the same backbone blocks and the same parameters.
    """

    patch_size: int = 7
    image_stem: Literal["linear", "conv"] = "linear"
    stem_channels: int = 32
    fusion: Literal["prefix", "encdec"] = "prefix"

    def validate(self) -> None:
        p = self.patch_size
        if self.image_stem == "linear" and (p < 1 or 28 % p):
            raise ValueError(f"patch_size: must divide 28 with the linear stem, got {p}")
        if self.image_stem == "conv" and (p < 2 or p & (p - 1)):
            raise ValueError(f"patch_size: the conv stem needs a power of two >= 2, got {p}")
        if self.stem_channels < 1:
            raise ValueError(f"stem_channels: must be >= 1, got {self.stem_channels}")

    def pad(self) -> int:
        """Zero pixels on each side that make 28 a multiple of the patch (the conv stem only)."""
        p = self.patch_size
        return 0 if self.image_stem == "linear" else (-28 % p) // 2

    def image_tokens(self) -> int:
        return ((28 + 2 * self.pad()) // self.patch_size) ** 2


@dataclass
class AvConfig:
    data: AvDataConfig = field(default_factory=AvDataConfig)
    model: AvModelConfig = field(default_factory=AvModelConfig)
    mel: MelConfig = field(default_factory=lambda: MelConfig(n_mels=40))
    degrade: Degrade = field(default_factory=Degrade)
    augment: Affine = field(default_factory=Affine)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def audio_tokens(self) -> int:
        return self.mel.tokens(max(round(self.data.max_seconds * self.mel.rate), 1))


def av_head(cfg: AvConfig) -> TaskHead:
    """Image patches, mel slices and the question as the prefix; answer characters decoded after it."""
    v = CODEC.vocab_size

    def make(dim: int):
        m = cfg.model
        image = ImageTokenizer(m.patch_size, dim, channels=1, mean=(0.1307,), std=(0.3081,), stem=m.image_stem,
                               stem_channels=m.stem_channels, pad=m.pad())
        tokenizers = {"image": MaybeAbsent(image),
                      "audio": MaybeAbsent(AudioTokenizer(cfg.mel, dim, cfg.audio_tokens())),
                      "question": TextTokenizer(v, dim, QUESTION), "answer_in": TextTokenizer(v, dim, ANSWER)}
        return tokenizers, LanguageModelTask(dim, v, inputs=INPUTS, pattern=cfg.model.fusion)
    positions = max(cfg.model.image_tokens(), cfg.audio_tokens(), MAX_QUESTION)
    return TaskHead(positions, make, f"--data.max_seconds={cfg.data.max_seconds:g}")


def make_model(cfg: AvConfig) -> TzooModel:
    return build_model(cfg.backbone, {TASK: av_head(cfg)})


@torch.no_grad()
def answer_scores(model: TzooModel, task: str, batches) -> dict[str, Tensor]:
    """Summed answer loss, answered characters, and per question kind the examples and exact matches.

    Exact match is read from teacher-forced logits: every answer character (and the EOS) is the argmax
    given the ones before it, which is exactly when greedy generation reproduces the answer.
    """
    device = next(model.parameters()).device
    sums = {"loss_sum": torch.zeros((), dtype=torch.float64, device=device),
            "chars": torch.zeros((), dtype=torch.float64, device=device),
            "seen": torch.zeros(len(KINDS), dtype=torch.float64, device=device),
            "right": torch.zeros(len(KINDS), dtype=torch.float64, device=device)}
    for batch in batches:
        batch = to_device(batch, device)
        targets = batch.pop("targets")
        logits = model(batch, task=task).outputs["logits"].float()  # (B, La, V)
        real = targets != -1
        sums["loss_sum"] += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1,
                                            reduction="sum").double()
        sums["chars"] += real.sum()
        right = ((logits.argmax(-1) == targets) | ~real).all(dim=1).double()  # (B,)
        sums["seen"] += torch.bincount(batch["kind"], minlength=len(KINDS)).double()
        sums["right"] += torch.bincount(batch["kind"], weights=right, minlength=len(KINDS))
    return sums


def accuracies(sums: dict[str, Tensor], kinds: tuple[str, ...]) -> dict[str, float]:
    return {k: float(sums["right"][i] / sums["seen"][i].clamp(min=1)) for k, i in zip(kinds, kind_ids(kinds))}


def av_data(cfg: AvConfig, sides: AvSides) -> TaskData:
    """Training examples with modality dropout; validation exact match (both inputs); the test table
    (every kind x both / image_only / audio_only), its PNG and a few generated answers."""
    from ..modalities.av_digits import AvDigitBatches

    d, bs = cfg.data, cfg.loop.batch_size
    kinds = tuple(dict.fromkeys(d.kinds))  # the kinds scored: each once, however often it is asked
    source = AvDigitBatches(sides.train, bs, cfg.loop.seed, d.kinds, d.drop, d.fused_drop, cfg.degrade, d.shift,
                            cfg.augment)
    val_ex = eval_examples(sides.val, d.eval_examples, 0, kinds)
    test_ex = eval_examples(sides.test, d.test_examples, 0, kinds)

    def validate(m: TzooModel, task: str, final: bool, rank: int, world: int) -> dict[str, Tensor]:
        return answer_scores(m, task, eval_batches(sides.val, val_ex, bs, "both", cfg.degrade, rank, world))

    def summarize(sums: dict[str, Tensor]) -> dict[str, Any]:
        acc = accuracies(sums, kinds)
        return {"val_loss": float(sums["loss_sum"] / sums["chars"].clamp(min=1)),
                "val_acc": sum(acc.values()) / len(acc), "val_acc_by_question": acc}

    def test(m: TzooModel, task: str, rank: int, world: int) -> dict[str, Tensor]:
        out = {}
        for condition in CONDITIONS:
            sums = answer_scores(m, task, eval_batches(sides.test, test_ex, bs, condition, cfg.degrade, rank, world))
            out.update({f"{condition}/{k}": v for k, v in sums.items()})
        return out

    def summarize_test(sums: dict[str, Tensor]) -> dict[str, Any]:
        table = {c: accuracies({k: sums[f"{c}/{k}"] for k in ("seen", "right")}, kinds) for c in CONDITIONS}
        acc = {k: {c: round(table[c][k], 4) for c in CONDITIONS} for k in kinds}
        return {"acc": acc, "test_acc": sum(table["both"].values()) / len(kinds),
                "test_examples_per_question": d.test_examples, "data_note": sides.note}

    def finish(m: TzooModel, task: str, run: RunDir, summary: dict) -> None:
        accuracy_table(summary["acc"], run / "accuracy.png", "exact-match accuracy on the test side (%)")
        lines = examples_text(m, task, sides.test, test_ex, cfg.degrade)
        write_text(run / "examples.txt", "\n".join(lines) + "\n")
        print("\n".join(lines[:10]), flush=True)

    return TaskData(source, validate, summarize, monitor="val_acc", higher_is_better=True, test=test,
                    summarize_test=summarize_test, finish=finish)


def examples_text(model: TzooModel, task: str, side: AvSide, ex, degrade: Degrade, per_kind: int = 2) -> list[str]:
    """A few test examples: question, the digits shown, the generated and the true answer."""
    n = len(ex) // len(set(ex.kind.tolist()))
    rows = [i for k in range(0, len(ex), n) for i in range(k, k + per_kind)]
    batch = next(eval_batches(side, ex[rows], len(rows), "both", degrade))
    answers = generate_answer(model, {k: v for k, v in batch.items() if k in INPUTS[:3]}, BOS_ID, EOS_ID,
                              MAX_ANSWER, task)
    lines = []
    for i in range(len(rows)):
        question = CODEC.decode([t for t in batch["question"]["ids"][i].tolist() if t != EOS_ID])
        truth = decode_answer(batch["answer"][i].tolist())
        a, b = batch["digits"][i].tolist()
        lines.append(f"[written {a}, spoken {b}] {question} -> {decode_answer(answers[i].tolist())} (true: {truth})")
    return lines


class AvDigitsRecipe(RecipeBase):
    """MNIST digit + spoken digit + text question in one token set; answers generated as text."""

    name = "av-digits"
    task = TASK
    headline = ("test_acc", True)
    modalities = ("image", "audio", "text")
    hub_task = "any-to-any"
    summary = "handwritten + spoken digits + a text question in one token set, answered in text (prefix or encdec fusion)"
    verbs = ("predict", "eval")
    option_defaults = {"predict": {"image": None, "audio": None, "prompt": None, "resize": True}}
    eval_keys = ("data.test_examples",)

    def task_parts(self, cfg: AvConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        sides = sides_of(cfg)
        if sides.note and is_main:
            print(f"tzoo: {sides.note}", flush=True)
        return av_head(cfg), av_data(cfg, sides)

    def task_head(self, cfg: AvConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        return av_head(cfg), {"codec": CODEC}

    def predict(self, loaded: Loaded, cfg: AvConfig, inputs: list[str], **options: Any) -> list[dict]:
        """The generated answer to option `prompt` about an `image` file and / or an `audio` WAV file
        (either may be left out); `resize` (True) as vit-cifar10's."""
        if inputs:
            raise TzooError("av-digits predicts from --image/--audio/--prompt, not positional files")
        o = self.verb_options("predict", options)
        image, audio, prompt = o["image"], o["audio"], o["prompt"]
        batch = to_device(question_batch(cfg, image, audio, prompt, o["resize"]), loaded.device)
        ids = generate_answer(loaded.model, batch, BOS_ID, EOS_ID, MAX_ANSWER, loaded.task)
        return [{"input": {"image": image, "audio": audio, "prompt": prompt}, "answer": decode_answer(ids[0].tolist())}]

    def evaluate(self, loaded: Loaded, cfg: AvConfig, overrides: dict[str, str]) -> dict:
        """The test table (every question kind x condition) of the run's data; --data.test_examples=N
        scores N examples per question instead of the run's number."""
        from ..config import apply_overrides

        cfg = apply_overrides(cfg, self.eval_overrides(overrides))
        sides = sides_of(cfg)
        data = av_data(cfg, sides)
        sums = data.test(loaded.model, loaded.task or TASK, 0, 1)
        return data.summarize_test(sums)


def sides_of(cfg: AvConfig) -> AvSides:
    d = cfg.data
    return load_sides(d.mnist_dir, d.fsdd_dir, d.hub_id, d.val_images, carve_test=d.carve_test,
                      rate=cfg.mel.rate, max_seconds=d.max_seconds)


def question_batch(cfg: AvConfig, image: Optional[str], audio: Optional[str], prompt: Optional[str],
                   resize: bool = True) -> dict:
    """One example from files and a prompt; a missing input is absent (masked), not zero-filled."""
    from ..modalities.wav import read_wav
    from .vit import read_image

    if image is None and audio is None:
        raise TzooError("give --image FILE and / or --audio FILE (and --prompt TEXT)")
    if not prompt or not prompt.strip():
        raise TzooError("--prompt: give a question, e.g. \"do they match?\"")
    if len(prompt) > MAX_QUESTION:
        raise TzooError(f"--prompt: {len(prompt)} characters; the model reads questions of up to {MAX_QUESTION}")
    unknown = sorted(set(prompt) - set(CODEC.chars))
    if unknown:
        raise TzooError(f"--prompt: characters {''.join(unknown)!r} are outside the vocabulary "
                        f"({''.join(c for c in CODEC.chars if c.isprintable())})")
    pixels = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    if image is not None:
        rgb = read_image(Path(image), 28, resize)  # (3, 28, 28) uint8
        pixels = rgb.float().mean(dim=0, keepdim=True).round().to(torch.uint8)[None]
    wave = torch.zeros(1, 1)
    if audio is not None:
        wave = read_wav(Path(audio), cfg.mel.rate)[: max(round(cfg.data.max_seconds * cfg.mel.rate), 1)][None]
    ids = torch.tensor([CODEC.encode(prompt)])
    return {"image": {"images": pixels, "present": torch.tensor([image is not None])},
            "audio": {"wave": wave, "lengths": torch.tensor([wave.shape[1] if audio is not None else 0]),
                      "present": torch.tensor([audio is not None])},
            "question": {"ids": ids, "mask": torch.ones_like(ids, dtype=torch.bool)}}


ASKED = ("written", "spoken", "match", "match", "sum", "sum", "sum", "fused")  # the two-digit questions more often


def _cpu() -> AvConfig:
    """A 2-core CPU: 4 blocks of 128, 6000 steps of 64 examples under bf16 autocast (attention in
    float32; about 1.7x the float32 speed here); the conv stem (8x8 patches of the zero-padded 32x32
    digit, 16 tokens), the questions that need both digits asked more often (match 2/8, sum 3/8
    of the examples), and training digits warped (up to 12 degrees, 10% scale, 2 pixels): the 7,000
    training images alone are learnt by heart."""
    return AvConfig(
        data=AvDataConfig(kinds=ASKED),
        augment=Affine(rotate=12.0, scale=0.1, translate=2.0),
        model=AvModelConfig(patch_size=8, image_stem="conv"),
        backbone=BackboneConfig(dim=128, depth=4, heads=4, dropout=0.0),
        loop=LoopConfig(batch_size=64, max_steps=6000, eval_every=500, save_every=500, log_every=100,
                        mixed_precision="bf16"),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=200, weight_decay=0.05),
    )


AV_DIGITS = AvDigitsRecipe({"cpu": _cpu})
