"""Recipes `char-lm` and `bpe-lm`: a decoder-only language model on a text corpus."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Optional

import torch
from torch import Tensor

from ..backbone import BackboneConfig
from ..errors import TzooError
from ..modalities.streams import Stream
from ..modalities.text import RandomWindows, check_length, consecutive_windows, find_corpus
from ..modalities.textsource import read_text_source
from ..storage import write_text
from ..tasks import LanguageModelTask, TzooModel, generate, score
from ..tokenizers import TextTokenizer, encode_corpus, load_codec, train_codec
from ..tokenizers.text import Codec
from .base import Loaded, RecipeBase, TaskData, TaskHead, build_model
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig
from .yourdata import describe_splits

TASK = "lm"


@dataclass
class TextDataConfig:
    """Corpus and tokenization.

    Attributes:
        dataset: a UTF-8 text file, a folder of .txt files (sorted, joined by newlines), or a parquet
            folder / Hub id with a text column; unset = Tiny Shakespeare ($TZOO_DATA, cache, or download).
        path: the older name of `dataset` (kept for older runs and commands); give one of the two.
        text_column: the parquet / Hub column holding the text; unset = "text", else the only string column.
        tokenizer: "char" (one id per character) or "bpe" (byte-level BPE trained on the train split).
        vocab_size: BPE vocabulary size (>= 257; ignored for char).
        block_size: context length in tokens.
        val_fraction: the last this fraction of characters is the validation split (unless the
            dataset has a validation split of its own).
    """

    dataset: Optional[str] = None
    path: Optional[str] = None
    text_column: Optional[str] = None
    tokenizer: Literal["char", "bpe"] = "char"
    vocab_size: int = 512
    block_size: int = 256
    val_fraction: float = 0.1

    def validate(self) -> None:
        if self.dataset is not None and self.path is not None:
            raise ValueError("dataset: give --data.dataset or --data.path (its older name), not both")
        if self.block_size < 1:
            raise ValueError(f"block_size: must be >= 1, got {self.block_size}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction: must be in (0, 1), got {self.val_fraction}")
        if self.tokenizer == "bpe" and self.vocab_size < 257:
            raise ValueError(f"vocab_size: byte-level BPE needs at least 257, got {self.vocab_size}")


@dataclass
class SampleConfig:
    """Text printed after training (and the defaults of `tzoo sample`).

    Attributes:
        prompt: the text generation starts from.
        max_new_tokens: tokens generated.
        temperature: softmax temperature (0 = always the most likely token).
        top_k: sample among the k most likely tokens only (0 = all).
    """

    prompt: str = "\n"
    max_new_tokens: int = 500
    temperature: float = 0.8
    top_k: int = 200

    def validate(self) -> None:
        if self.max_new_tokens < 0 or self.top_k < 0 or self.temperature < 0:
            raise ValueError("max_new_tokens: max_new_tokens, top_k and temperature must be >= 0")


@dataclass
class LMConfig:
    """A language-model recipe: data, backbone, loop, optimizer, sampling.

    Attributes:
        tie_embeddings: the output layer reuses the token embedding matrix (fewer parameters).
    """

    data: TextDataConfig = field(default_factory=TextDataConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    tie_embeddings: bool = True

    def validate(self) -> None:
        try:
            self.backbone.with_positions(self.data.block_size)
        except ValueError as e:
            raise ValueError(f"backbone.{e}") from None


@dataclass
class Corpus:
    """A tokenized corpus split into train and validation ids, and where each split came from."""

    source: str
    codec: Codec
    train: Tensor
    val: Tensor
    val_chars: int  # characters predicted when scoring the validation split
    splits: dict  # {"train": {"size": chars, "from": ...}, "validation": {...}} for metrics.json


def corpus_source(cfg: TextDataConfig) -> str:
    """Where the text is: --data.dataset, else --data.path, else Tiny Shakespeare's file."""
    given = cfg.dataset if cfg.dataset is not None else cfg.path
    return given if given is not None else str(find_corpus(None))


def _codec(cfg: TextDataConfig, train_text: str, full_text: str, run: RunDir, is_main: bool,
           barrier: Callable[[], None]) -> Codec:
    """The run's codec: loaded if saved, else fitted on the main process, saved, and loaded by the rest."""
    saved = (run / ("vocab.json" if cfg.tokenizer == "char" else "tokenizer.json")).is_file()
    if not saved and is_main:
        # Characters come from the whole text (as nanoGPT) so validation has no unknown symbol;
        # BPE merges are learned on the training split only.
        codec = train_codec(cfg.tokenizer, full_text if cfg.tokenizer == "char" else train_text, cfg.vocab_size)
        codec.save(run.path)
    barrier()
    return load_codec(cfg.tokenizer, run.path)


def load_corpus(cfg: TextDataConfig, run: RunDir, is_main: bool = True,
                barrier: Callable[[], None] = lambda: None) -> Corpus:
    source = corpus_source(cfg)
    text = read_text_source(source, cfg.text_column, cfg.val_fraction)
    codec = _codec(cfg, text.train, text.train + text.validation, run, is_main, barrier)
    train_ids, val_ids = encode_corpus(codec, text.train), encode_corpus(codec, text.validation)
    check_length(train_ids, cfg.block_size, "training", source)
    check_length(val_ids, cfg.block_size, "validation", source)
    val_chars = len(text.validation) - len(codec.decode(val_ids[:1].tolist()))
    return Corpus(source, codec, train_ids, val_ids, val_chars, text.record)


def lm_head(cfg: LMConfig, vocab_size: int) -> TaskHead:
    """Text ids -> causal backbone -> next-token head (tied to the embedding unless told otherwise)."""
    def make(dim: int):
        text = TextTokenizer(vocab_size, dim)
        return {"text": text}, LanguageModelTask(dim, vocab_size, tied=text.embed if cfg.tie_embeddings else None)
    return TaskHead(cfg.data.block_size, make, f"--data.block_size={cfg.data.block_size}")


def make_model(cfg: LMConfig, vocab_size: int) -> TzooModel:
    return build_model(cfg.backbone, {TASK: lm_head(cfg, vocab_size)})


def lm_metrics(sums: dict[str, Tensor], val_chars: int, char_level: bool) -> dict[str, float]:
    """Losses in nats per token, plus bits per character (and per token for BPE)."""
    out: dict[str, float] = {}
    if "train_count" in sums:
        out["train_loss"] = float(sums["train_sum"] / sums["train_count"])
    val = float(sums["val_sum"] / sums["val_count"])
    out["val_loss"] = val
    if "full" in sums:  # the whole split was scored: bits per character are exact
        total_bits = float(sums["val_sum"]) / math.log(2)
        out["val_bpc"] = total_bits / val_chars
        if not char_level:
            out["val_bits_per_token"] = val / math.log(2)
    return out


def lm_data(cfg: LMConfig, corpus: Corpus, sample: Callable[[TzooModel, str], str]) -> TaskData:
    """Random training windows; validation loss (periodic: a fixed sample of windows, also of the
    training split; final: the whole validation split); a text sample written at the end."""
    block, bs, seed, n = cfg.data.block_size, cfg.loop.batch_size, cfg.loop.seed, cfg.loop.eval_batches
    probes = {"train": RandomWindows(corpus.train, block, bs, seed, Stream.TEXT_PROBE),
              "val": RandomWindows(corpus.val, block, bs, seed, Stream.TEXT_PROBE)}

    def validate(model: TzooModel, task: str, final: bool, rank: int, world: int) -> dict[str, Tensor]:
        device = next(model.parameters()).device
        sums = {}
        for split, source in probes.items():
            if (final or not n) and split == "val":
                batches = consecutive_windows(corpus.val, block, bs, rank, world)
            elif n:
                batches = (source.batch(i, rank, world) for i in range(n))
            else:
                continue
            sums[f"{split}_sum"], sums[f"{split}_count"] = score(model, batches, device, task)
        if final or not n:
            sums["full"] = torch.ones(())
        return sums

    def finish(model: TzooModel, task: str, run: RunDir, summary: dict) -> None:
        summary["splits"] = corpus.splits
        text = sample(model, task)
        write_text(run / "sample.txt", text)
        print(f"--- sample ({cfg.sample.max_new_tokens} tokens) ---\n{text}\n---", flush=True)

    return TaskData(RandomWindows(corpus.train, block, bs, seed), validate,
                    lambda sums: lm_metrics(sums, corpus.val_chars, cfg.data.tokenizer == "char"), finish=finish)


class LanguageModelRecipe(RecipeBase):
    """Decoder-only LM: text ids -> causal backbone -> next-token head (tied to the embedding)."""

    task = TASK
    verbs = ("sample", "eval")
    headline = ("val_bpc", False)
    modalities = ("text",)
    hub_task = "text-generation"
    option_defaults = {"sample": {"max_new_tokens": None, "temperature": None, "top_k": None, "seed": 0, "use_cache": True}}
    eval_keys = ("data.dataset", "data.path", "data.text_column")

    def __init__(self, name: str, summary: str, presets: dict[str, Callable[[], LMConfig]]) -> None:
        super().__init__(presets)
        self.name, self.summary = name, summary

    def task_parts(self, cfg: LMConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        corpus = load_corpus(cfg.data, run, is_main, barrier)
        if is_main:
            print(describe_splits(corpus.splits, "chars"), flush=True)
        s = cfg.sample
        try:  # a prompt outside the vocabulary fails now, not after training
            prompt_ids(corpus.codec, s.prompt)
        except TzooError as e:
            raise TzooError(f"--sample.prompt: {e}") from None

        def sample(m: TzooModel, task: str) -> str:
            return sample_text(m, task, corpus.codec, cfg.data.block_size, s.prompt, s.max_new_tokens,
                               s.temperature, s.top_k, cfg.loop.seed)
        return lm_head(cfg, corpus.codec.vocab_size), lm_data(cfg, corpus, sample)

    # -- using a trained run ---------------------------------------------------------------
    def task_head(self, cfg: LMConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        codec = load_codec(cfg.data.tokenizer, run.path)
        return lm_head(cfg, codec.vocab_size), {"codec": codec}

    def sample(self, loaded: Loaded, cfg: LMConfig, prompt: Optional[str] = None, **options: Any) -> str:
        """Text continuing `prompt`; options: max_new_tokens, temperature, top_k, seed, use_cache
        (unset ones come from the run's `sample` section)."""
        s, o = cfg.sample, self.verb_options("sample", options)
        n, t, k = (getattr(s, key) if o[key] is None else o[key] for key in ("max_new_tokens", "temperature", "top_k"))
        if n < 0 or t < 0 or k < 0:
            raise TzooError("--max-new-tokens, --temperature and --top-k must be >= 0")
        return sample_text(loaded.model, loaded.task, loaded.artefacts["codec"], cfg.data.block_size,
                           s.prompt if prompt is None else prompt, n, t, k, o["seed"], o["use_cache"])

    def evaluate(self, loaded: Loaded, cfg: LMConfig, overrides: dict[str, str]) -> dict:
        """Score the validation split, or another corpus (--data.dataset, or --data.path): the whole of
        a text file or folder of .txt files, a dataset's own validation split if it has one, window by window."""
        given = self.eval_overrides(overrides)
        if "data.dataset" in given and "data.path" in given:
            raise TzooError("give --data.dataset or --data.path (its older name), not both")
        other = given.get("data.dataset", given.get("data.path"))
        data = replace(cfg.data, text_column=given.get("data.text_column", cfg.data.text_column))
        codec = loaded.artefacts["codec"]
        if other is None:
            corpus = load_corpus(data, loaded.run)
            ids, chars, where = corpus.val, corpus.val_chars, corpus.splits["validation"]["from"]
        else:
            text = read_text_source(other, data.text_column, data.val_fraction)
            whole = text.train + text.validation if text.carved else text.validation
            ids = encode_corpus(codec, whole)
            if ids.numel() < 2:
                raise TzooError(f"{other}: needs at least two tokens to score")
            chars = len(whole) - len(codec.decode(ids[:1].tolist()))
            where = other if text.carved else text.record["validation"]["from"]
        with torch.no_grad():
            total, count = score(loaded.model, consecutive_windows(ids, cfg.data.block_size, cfg.loop.batch_size),
                                 loaded.device, loaded.task)
        loss = float(total / count)
        out = {"data": str(where), "loss": loss, "bits_per_char": float(total) / math.log(2) / chars,
               "tokens_scored": int(count), "chars_scored": chars}
        if cfg.data.tokenizer == "bpe":
            out["bits_per_token"] = loss / math.log(2)
        return out


def prompt_ids(codec: Codec, prompt: str) -> list[int]:
    """The prompt's ids; the default prompt ("\\n") becomes the vocabulary's first token for a corpus
    without newlines, another prompt outside the vocabulary is a one-line error."""
    try:
        ids = codec.encode(prompt)
    except TzooError:
        if prompt != SampleConfig.prompt:
            raise
        ids = [0]
    if not ids:
        raise TzooError("--prompt encodes to no tokens; give at least one character")
    return ids


def sample_text(model: TzooModel, task: Optional[str], codec: Codec, block_size: int, prompt: str,
                max_new_tokens: int, temperature: float, top_k: int, seed: int, use_cache: bool = True) -> str:
    """`prompt` and `max_new_tokens` sampled continuation tokens, decoded."""
    ids = prompt_ids(codec, prompt)
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    out = generate(model, torch.tensor([ids], device=device), max_new_tokens, block_size, temperature, top_k, use_cache, g, task)
    return codec.decode(out[0].tolist())


def _char_default() -> LMConfig:
    """A few minutes on a 2-core CPU: context 256, 2000 steps of 8 x 256 tokens."""
    return LMConfig(
        data=TextDataConfig(tokenizer="char", block_size=256),
        backbone=BackboneConfig(dim=128, depth=4, heads=4, dropout=0.0),
        loop=LoopConfig(batch_size=8, max_steps=2000, eval_every=250, eval_batches=20, save_every=500),
        optim=OptimConfig(lr=2e-3, min_lr=2e-4, warmup_steps=100),
    )


def _char_bench() -> LMConfig:
    """nanoGPT's published CPU shape for shakespeare_char (val loss 1.88 there)."""
    return LMConfig(
        data=TextDataConfig(tokenizer="char", block_size=64),
        backbone=BackboneConfig(dim=128, depth=4, heads=4, dropout=0.0),
        loop=LoopConfig(batch_size=12, max_steps=2000, eval_every=250, eval_batches=20, save_every=1000),
        optim=OptimConfig(lr=1e-3, min_lr=1e-4, warmup_steps=100),
    )


def _char_gpu() -> LMConfig:
    """nanoGPT's shakespeare_char GPU shape (6 x 384, context 256, dropout 0.2)."""
    return LMConfig(
        data=TextDataConfig(tokenizer="char", block_size=256),
        backbone=BackboneConfig(dim=384, depth=6, heads=6, dropout=0.2),
        loop=LoopConfig(batch_size=64, max_steps=5000, eval_every=250, eval_batches=200, save_every=1000,
                        mixed_precision="bf16"),
        optim=OptimConfig(lr=1e-3, min_lr=1e-4, warmup_steps=100),
    )


def _bpe(base: Callable[[], LMConfig], vocab: int = 512, block: int = 128) -> Callable[[], LMConfig]:
    def make() -> LMConfig:
        cfg = base()
        return dataclasses.replace(cfg, data=replace(cfg.data, tokenizer="bpe", vocab_size=vocab,
                                                     block_size=block))
    return make


CHAR_LM = LanguageModelRecipe(
    "char-lm", "character-level language model on Tiny Shakespeare (or any --data.dataset text)",
    {"default": _char_default, "bench": _char_bench, "gpu": _char_gpu})
BPE_LM = LanguageModelRecipe(
    "bpe-lm", "byte-level BPE language model (HF tokenizers) on Tiny Shakespeare or any text",
    {"default": _bpe(_char_default), "gpu": _bpe(_char_gpu, 2048, 256)})
