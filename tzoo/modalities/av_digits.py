"""av-digits data: an MNIST image of digit a + an FSDD recording of digit b + a text question; the
answer is generated as text.

Question kinds (several phrasings each, so the question's tokens matter):
    written  which digit is written?        -> a as a word ("seven")
    spoken   which digit is spoken?         -> b as a word
    match    do the two show the same digit? -> "yes" / "no" (half of the examples match)
    sum      what is their sum?             -> a + b as a word ("zero" .. "eighteen")
    fused    which digit is it?             -> a (= b); both inputs are degraded, so combining them
                                               beats either alone

Every example is first drawn as a row of `Examples` (indices and digits only, a pure function of
(seed, stream, index)), then `make_batch` reads and degrades its data. Batch layout:

    {"image": {"images": (B, 1, 28, 28) uint8, "present": (B,) bool},
     "audio": {"wave": (B, T) float32, "lengths": (B,) int64, "present": (B,) bool},
     "question": {"ids": (B, Lq) int64, "mask": (B, Lq) bool},       # right-padded (pad id EOS_ID)
     "answer": (B, La + 1) int64,    # BOS_ID, answer chars, EOS_ID; right-padded with -1
     "answer_in": (B, La) int64,     # answer[:, :-1], padding replaced by EOS_ID (embeddable)
     "targets": (B, La) int64,       # answer[:, 1:], -1 = ignore
     "kind": (B,) int64,             # index into KINDS
     "digits": (B, 2) int64}         # (written digit a, spoken digit b), for per-digit scoring

An absent modality has present=False, zero pixels, a zero wave and length 0.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

from ..errors import TzooError
from ..progress import track
from ..tokenizers.text import CharCodec
from .answers import BOS_CHAR, EOS_CHAR, answer_tensors, decode_ids, text_entry
from .augment import Affine, affine_params, affine_warp, crop_flip, crop_flip_params
from .cifar import ImageSplit
from .clips import pad_batch
from .fsdd import Clips, decode_all, find_recordings, scan, split, split_validation
from .mnist import HUB_ID, load_mnist
from .splits import stratified_split
from .streams import Stream, step_generator
from .wav import read_wav

# -- questions, answers, vocabulary ---------------------------------------------------------------

KINDS = ("written", "spoken", "match", "sum", "fused")
QUESTIONS: dict[str, tuple[str, ...]] = {
    "written": ("which digit is written?", "what number does the picture show?",
                "read the digit in the image.", "what is the handwritten digit?"),
    "spoken": ("which digit is spoken?", "what number do you hear?",
               "what digit does the voice say?", "listen: which digit is said?"),
    "match": ("do the image and the sound show the same digit?", "is the spoken digit the written one?",
              "do the two digits match?", "are the digit you see and the digit you hear equal?"),
    "sum": ("what is the sum of the two digits?", "add the written digit and the spoken digit.",
            "what is the written digit plus the spoken digit?", "how much is the picture plus the voice?"),
    "fused": ("which digit is it?", "image and voice agree: which digit?",
              "both inputs show one digit. which one?", "name the digit, using sight and sound."),
}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen")
ANSWER_WORDS = NUMBER_WORDS + ("yes", "no")
CONDITIONS = ("both", "image_only", "audio_only")


def vocabulary() -> str:
    """Every character of the questions and answers, plus BOS and EOS, sorted (CharCodec's id order)."""
    text = "".join(q for qs in QUESTIONS.values() for q in qs) + "".join(ANSWER_WORDS) + BOS_CHAR + EOS_CHAR
    return "".join(sorted(set(text)))


CODEC = CharCodec(vocabulary())
BOS_ID, EOS_ID = CODEC.index[BOS_CHAR], CODEC.index[EOS_CHAR]


def answer_text(kind: str, a: int, b: int) -> str:
    """The answer to a `kind` question about written digit a and spoken digit b."""
    if kind in ("written", "fused"):
        return NUMBER_WORDS[a]
    if kind == "spoken":
        return NUMBER_WORDS[b]
    if kind == "match":
        return "yes" if a == b else "no"
    if kind == "sum":
        return NUMBER_WORDS[a + b]
    raise TzooError(f"question kind {kind!r}: unknown; use one of {', '.join(KINDS)}")


def decode_answer(ids: Sequence[int]) -> str:
    """Generated or target ids -> answer text: stops at EOS, skips BOS and padding (-1)."""
    return decode_ids(ids, CODEC, BOS_ID, EOS_ID)


def kind_ids(kinds: Sequence[str]) -> list[int]:
    """Indices into KINDS; a TzooError names an unknown kind."""
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise TzooError(f"kinds: {bad[0] if bad else 'empty'!r} is not a question kind; "
                        f"use a non-empty subset of {', '.join(KINDS)}")
    return [KINDS.index(k) for k in kinds]


# -- degradation of `fused` examples ------------------------------------------------------------

@dataclass
class Degrade:
    """How the two inputs of a `fused` example are degraded, so that each alone is clearly imperfect.

    Levels: a small CNN trained and scored on inputs degraded like this (7,000 MNIST training images,
    1,000 validation; FSDD train / validation indices 5-9) reached 82% on images (98% clean) and 80%
    on clips; two independent ~80% views of the same digit leave room for fusion to gain. AV-MNIST
    (Vielzeuf et al. 2018), the usual benchmark of this kind, has its modalities alone at roughly
    65-75% by degrading both (75% of the image energy removed; noise added to the audio).

    Attributes:
        image_noise: std of Gaussian pixel noise, as a fraction of full scale (255).
        occlusion: side in pixels of a square set to 0 before the noise, placed uniformly inside the
            central 20x20 box where MNIST digits lie (0 = none).
        snr_db: (low, high) range of the signal-to-noise ratio, in dB, of white noise added to the
            clip (signal power = the clip's mean power over its whole length).
    """

    image_noise: float = 0.4
    occlusion: int = 12
    snr_db: tuple[float, ...] = (-6.0, 0.0)

    def validate(self) -> None:
        if self.image_noise < 0:
            raise ValueError(f"image_noise: must be >= 0, got {self.image_noise}")
        if not 0 <= self.occlusion <= 20:
            raise ValueError(f"occlusion: must be in [0, 20], got {self.occlusion}")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"snr_db: expected LOW,HIGH with LOW <= HIGH, got {self.snr_db}")


def degrade_image(image: Tensor, cfg: Degrade, g: torch.Generator) -> Tensor:
    """(C, H, W) uint8 -> the same with a zeroed square and Gaussian noise, drawn from `g`."""
    x = image.float() / 255  # (C, H, W)
    s = cfg.occlusion
    if s > 0:
        lo = max((x.shape[-1] - 20) // 2, 0)  # the central 20x20 box (MNIST centres digits in it)
        top, left = torch.randint(lo, max(x.shape[-1] - lo - s, lo) + 1, (2,), generator=g).tolist()
        x[:, top:top + s, left:left + s] = 0
    x = x + torch.randn(x.shape, generator=g) * cfg.image_noise
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def degrade_wave(wave: Tensor, cfg: Degrade, g: torch.Generator) -> Tensor:
    """(T,) -> the clip plus white noise at an SNR drawn uniformly from cfg.snr_db, from `g`."""
    lo, hi = cfg.snr_db
    snr = lo + (hi - lo) * float(torch.rand((), generator=g))
    power = wave.pow(2).mean().clamp(min=1e-12)
    return wave + torch.randn(wave.shape, generator=g) * (power / 10 ** (snr / 10)).sqrt()


# -- one side of the split: images and clips, indexed by digit ----------------------------------------

@dataclass
class AvSide:
    """The images and clips that examples of one side (train, validation or test) are drawn from.

    Attributes:
        images: (N, 1, 28, 28) uint8; image_labels (N,) digits.
        waves: clips (T_i,) float32; clip_labels (M,) digits.
    """

    images: Tensor
    image_labels: Tensor
    waves: list[Tensor]
    clip_labels: Tensor

    def __post_init__(self) -> None:
        self.image_table, self.image_counts = _by_digit(self.image_labels, "images")
        self.clip_table, self.clip_counts = _by_digit(self.clip_labels, "clips")
        self.clip_lengths = torch.tensor([w.numel() for w in self.waves], dtype=torch.long)


def _by_digit(labels: Tensor, what: str) -> tuple[Tensor, Tensor]:
    """(10, most) table of row indices per digit (padded with 0) and (10,) counts."""
    counts = torch.bincount(labels, minlength=10)[:10]
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise TzooError(f"{what}: labels must be digits 0-9, got {int(labels.min())}..{int(labels.max())}")
    if (counts == 0).any():
        raise TzooError(f"{what}: no examples of digit {int((counts == 0).nonzero()[0])}; "
                        "every side of the split needs every digit")
    table = torch.zeros(10, int(counts.max()), dtype=torch.long)
    for d in range(10):
        rows = (labels == d).nonzero().squeeze(1)
        table[d, : len(rows)] = rows
    return table, counts


# -- examples: what each one is, before any data is read ---------------------------------------

@dataclass
class Examples:
    """N examples as (N,) tensors: kind (index into KINDS), phrase (index into its QUESTIONS), image and
    clip rows of the side, written digit a, spoken digit b, degradation seeds of the image and of the
    clip (separate, so a clip is degraded alike with or without its image), and presence flags."""

    kind: Tensor
    phrase: Tensor
    image_row: Tensor
    clip_row: Tensor
    written: Tensor
    spoken: Tensor
    image_seed: Tensor
    audio_seed: Tensor
    image_present: Tensor
    audio_present: Tensor

    def __len__(self) -> int:
        return len(self.kind)

    def __getitem__(self, rows) -> "Examples":
        return Examples(*(getattr(self, f.name)[rows] for f in fields(self)))


def draw(side: AvSide, kinds: Tensor, g: torch.Generator) -> Examples:
    """Examples of the given kinds (N,), every random number drawn for every row in a fixed order.

    Digits are uniform; match pairs the same digit half of the time, fused always; written and
    spoken pair an independent digit of the other modality (a distractor).
    """
    n = len(kinds)
    a = torch.randint(10, (n,), generator=g)
    other = torch.randint(10, (n,), generator=g)
    same = torch.rand(n, generator=g) < 0.5
    offset = torch.randint(1, 10, (n,), generator=g)
    u_phrase, u_image, u_clip = torch.rand(3, n, generator=g)
    seeds = torch.randint(2**62, (2, n), generator=g)
    is_match, is_fused = kinds == KINDS.index("match"), kinds == KINDS.index("fused")
    b = torch.where(is_match, torch.where(same, a, (a + offset) % 10), torch.where(is_fused, a, other))
    counts = torch.tensor([len(QUESTIONS[k]) for k in KINDS])
    phrase = (u_phrase * counts[kinds]).long()
    image_row = side.image_table[a, (u_image * side.image_counts[a]).long()]
    clip_row = side.clip_table[b, (u_clip * side.clip_counts[b]).long()]
    ones = torch.ones(n, dtype=torch.bool)
    return Examples(kinds.long(), phrase, image_row, clip_row, a, b, seeds[0], seeds[1], ones, ones.clone())


def drop_modalities(ex: Examples, u: Tensor, p: float, fused_p: float = 0.0) -> Examples:
    """Modality dropout from uniforms u (N,): written loses its audio and spoken its image with
    probability p; fused loses one of the two (image if u < fused_p / 2, else audio) with probability
    fused_p; match and sum keep both (they need both)."""
    written, spoken, fused = (ex.kind == KINDS.index(k) for k in ("written", "spoken", "fused"))
    drop_image = (spoken & (u < p)) | (fused & (u < fused_p / 2))
    drop_audio = (written & (u < p)) | (fused & (u >= fused_p / 2) & (u < fused_p))
    return replace(ex, image_present=ex.image_present & ~drop_image, audio_present=ex.audio_present & ~drop_audio)


def with_condition(ex: Examples, condition: str) -> Examples:
    """Force an evaluation condition: "both", "image_only" (audio absent) or "audio_only" (image absent)."""
    if condition not in CONDITIONS:
        raise TzooError(f"condition {condition!r}: unknown; use one of {', '.join(CONDITIONS)}")
    n = len(ex)
    image, audio = torch.ones(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)
    if condition == "image_only":
        audio[:] = False
    elif condition == "audio_only":
        image[:] = False
    return replace(ex, image_present=image, audio_present=audio)


# -- batches -----------------------------------------------------------------------------------

def _texts(ex: Examples) -> tuple[list[list[int]], list[list[int]]]:
    """Question ids and full answer ids (BOS, chars, EOS) of every example."""
    questions, answers = [], []
    for k, p, a, b in zip(ex.kind.tolist(), ex.phrase.tolist(), ex.written.tolist(), ex.spoken.tolist()):
        questions.append(CODEC.encode(QUESTIONS[KINDS[k]][p]))
        answers.append([BOS_ID, *CODEC.encode(answer_text(KINDS[k], a, b)), EOS_ID])
    return questions, answers


def _gen(seed: Tensor) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def make_batch(side: AvSide, ex: Examples, degrade: Degrade, mine: Optional[slice] = None,
               shift: Optional[tuple[int, Tensor, Tensor]] = None, warp: Optional[Tensor] = None) -> dict:
    """The batch of rows `mine` of `ex` (default: all), padded to the longest of ALL of `ex` (so the
    slices of several processes concatenate to the one-process batch). Layout: see the module doc.

    `shift` = (pad, dx, dy) moves the images of rows `mine` (before any degradation): each is
    zero-padded by `pad` and cropped back to 28x28 at offsets dx, dy (B,) in [0, 2 * pad]; `warp`
    (B, 2, 3) then warps them (`affine_warp`)."""
    mine = mine or slice(None)
    questions, answers = _texts(ex)
    lengths = torch.where(ex.audio_present, side.clip_lengths[ex.clip_row], 0)
    t = max(int(lengths.max()) if len(ex) else 0, 1)
    part = ex[mine]
    fused = part.kind == KINDS.index("fused")
    images = torch.zeros(len(part), *side.images.shape[1:], dtype=torch.uint8)  # (B, 1, 28, 28)
    raw = side.images[part.image_row]  # (B, 1, 28, 28)
    if shift is not None and shift[0] > 0:
        pad, dx, dy = shift
        raw = crop_flip(raw, pad, dx, dy, torch.zeros(len(part), dtype=torch.bool))
    if warp is not None:
        raw = affine_warp(raw, warp)
    waves = []
    for i in range(len(part)):
        if part.image_present[i]:
            img = raw[i]
            images[i] = degrade_image(img, degrade, _gen(part.image_seed[i])) if fused[i] else img
        wave = torch.zeros(0)
        if part.audio_present[i]:
            wave = side.waves[part.clip_row[i]]
            wave = degrade_wave(wave, degrade, _gen(part.audio_seed[i])) if fused[i] else wave
        waves.append(wave)
    wave, wave_lengths = pad_batch(waves, t)  # (B, T), (B,)
    question = {k: v[mine] for k, v in text_entry(questions, EOS_ID).items()}  # ids, mask (B, Lq)
    texts = {k: v[mine] for k, v in answer_tensors(answers, EOS_ID).items()}  # answer (B, La + 1), answer_in, targets
    return {"image": {"images": images, "present": part.image_present.clone()},
            "audio": {"wave": wave, "lengths": wave_lengths, "present": part.audio_present.clone()},
            "question": question,
            **texts,
            "kind": part.kind.clone(), "digits": torch.stack([part.written, part.spoken], dim=1)}


class AvDigitBatches:
    """Training batches of av-digits examples, batch `index` a pure function of (seed, index).

    Each global batch (batch_size x world examples) is drawn from (seed, PAIRING, index), its modality
    dropout from (seed, MODALITY_DROP, index); rank r takes rows [r*batch_size, (r+1)*batch_size).

    Args:
        side: the training images and clips.
        batch_size: examples per process per micro-batch.
        seed: the run's seed.
        kinds: question kinds to ask, uniformly (default: all five).
        drop: probability that a written question loses its audio / a spoken one its image.
        fused_drop: probability that a fused question loses one of its inputs (0 = never; > 0 lets
            the same model be scored on fused questions with one input removed).
        degrade: the degradation of fused examples.
        shift: images move by up to this many pixels each way (zero fill), drawn per global batch
            from (seed, IMAGE_CROP, index); 0 = never.
        affine: random affine warps of the images (after `shift`, before any degradation), drawn
            per global batch from (seed, IMAGE_AFFINE, index); None or all zero = never.
    """

    unit = "examples"

    def __init__(self, side: AvSide, batch_size: int, seed: int, kinds: Sequence[str] = KINDS,
                 drop: float = 0.25, fused_drop: float = 0.0, degrade: Optional[Degrade] = None,
                 shift: int = 0, affine: Optional[Affine] = None) -> None:
        if batch_size < 1:
            raise TzooError(f"batch_size: must be >= 1, got {batch_size}")
        if not 0 <= shift <= 14:
            raise TzooError(f"shift: must be in [0, 14] pixels, got {shift}")
        for name, p in (("drop", drop), ("fused_drop", fused_drop)):
            if not 0 <= p <= 1:
                raise TzooError(f"{name}: must be in [0, 1], got {p}")
        self.side, self.batch_size, self.seed = side, batch_size, seed
        self.kinds = torch.tensor(kind_ids(kinds))
        self.drop, self.fused_drop, self.shift = drop, fused_drop, shift
        self.degrade = degrade or Degrade()
        self.degrade.validate()
        self.affine = affine or Affine()
        try:
            self.affine.validate()
        except ValueError as e:
            raise TzooError(f"affine: {e}") from None

    def examples(self, index: int, world: int = 1) -> Examples:
        """The global batch `index` of batch_size x world examples, dropout applied."""
        n = self.batch_size * world
        g = step_generator(self.seed, Stream.PAIRING, index)
        kinds = self.kinds[torch.randint(len(self.kinds), (n,), generator=g)]
        ex = draw(self.side, kinds, g)
        u = torch.rand(n, generator=step_generator(self.seed, Stream.MODALITY_DROP, index))
        return drop_modalities(ex, u, self.drop, self.fused_drop)

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict:
        mine = slice(rank * self.batch_size, (rank + 1) * self.batch_size)
        shift = None
        if self.shift:
            g = step_generator(self.seed, Stream.IMAGE_CROP, index)
            dx, dy, _ = crop_flip_params(self.batch_size * world, self.shift, False, g)
            shift = (self.shift, dx[mine], dy[mine])
        warp = None
        if self.affine.active():
            g = step_generator(self.seed, Stream.IMAGE_AFFINE, index)
            warp = affine_params(self.batch_size * world, self.affine, self.side.images.shape[-1], g)[mine]
        return make_batch(self.side, self.examples(index, world), self.degrade, mine, shift, warp)

    def items(self, batch: dict) -> int:
        return int(batch["kind"].shape[0])


# -- evaluation --------------------------------------------------------------------------------

def eval_examples(side: AvSide, n: int, seed: int = 0, kinds: Sequence[str] = KINDS) -> Examples:
    """A fixed list of `n` examples per kind (kind-major order), both inputs present, drawn from
    (seed, EVAL_PROBE, kind): the same whatever the run's seed, batch size or process count."""
    if n < 1:
        raise TzooError(f"eval examples: n must be >= 1, got {n}")
    parts = [draw(side, torch.full((n,), k), step_generator(seed, Stream.EVAL_PROBE, k)) for k in kind_ids(kinds)]
    return Examples(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Examples)))


def eval_batches(side: AvSide, ex: Examples, batch_size: int, condition: str = "both",
                 degrade: Optional[Degrade] = None, rank: int = 0, world: int = 1) -> Iterator[dict]:
    """`ex` under a forced condition, in order, batches dealt round-robin to processes."""
    ex, degrade = with_condition(ex, condition), degrade or Degrade()
    starts = list(range(0, len(ex), batch_size))[rank::world]
    for s in track(starts, len(starts), f"evaluate ({condition})", "batch", enabled=rank == 0):
        yield make_batch(side, ex[s:s + batch_size], degrade)


# -- loading -----------------------------------------------------------------------------------

@dataclass
class AvSides:
    """train / validation / test sides and the MNIST note ("" for the official split)."""

    train: AvSide
    val: AvSide
    test: AvSide
    note: str = ""


def fsdd_folder(fsdd_dir: Optional[str]) -> Path:
    """`--data.fsdd_dir`, else $TZOO_DATA/fsdd/recordings, else a one-line error."""
    return find_recordings(fsdd_dir, "--data.fsdd_dir")


def load_clips(fsdd_dir: Optional[str], rate: int = 8000, max_seconds: float = 1.5,
               val_indices: tuple[int, int] = (5, 9), max_bad_fraction: float = 0.05) -> tuple[Clips, Clips, Clips]:
    """FSDD (train, validation, test): the official split (index 0-4 test), validation = indices
    val_indices of the training side; clips at `rate`, cut to their first max_seconds."""
    folder = fsdd_folder(fsdd_dir)
    train, test = split(scan(folder), None, folder)
    train, val = split_validation(train, val_indices, folder)
    limit = max(round(max_seconds * rate), 1)
    read = lambda path: read_wav(path, rate)[:limit]  # noqa: E731  (2 of FSDD's 3,000 clips exceed 1.5 s)
    return tuple(decode_all(part, read, what, max_bad_fraction)  # type: ignore[return-value]
                 for part, what in ((train, "training"), (val, "validation"), (test, "test")))


def side_of(images: ImageSplit, clips: Clips) -> AvSide:
    return AvSide(images.images, images.labels, clips.waves, clips.labels)


def load_sides(mnist_dir: Optional[str], fsdd_dir: Optional[str], hub_id: str = HUB_ID, val_images: int = 1000,
               seed: int = 0, carve_test: int = 2000, **clip_options) -> AvSides:
    """MNIST train minus a class-stratified `val_images` (validation) and MNIST test, paired with
    FSDD train / validation (indices 5-9) / test (indices 0-4). clip_options go to `load_clips`."""
    train_images, test_images, note = load_mnist(mnist_dir, hub_id, carve_test=carve_test)
    keep, held = stratified_split(train_images.labels, val_images, seed, what="MNIST validation")
    part = lambda rows: ImageSplit(train_images.images[rows], train_images.labels[rows], train_images.class_names)  # noqa: E731
    train_clips, val_clips, test_clips = load_clips(fsdd_dir, **clip_options)
    return AvSides(side_of(part(keep), train_clips), side_of(part(held), val_clips),
                   side_of(test_images, test_clips), note)
