"""av-digits batches: the contract, determinism, process slices, correct answers, pairing and dropout."""
import pytest
import torch

from tests.audio_fixtures import fake_fsdd
from tests.mixing.conftest import digit_of_image, digit_of_wave, write_mnist_parquet
from tzoo.errors import TzooError
from tzoo.modalities.augment import Affine
from tzoo.modalities.av_digits import (
    ANSWER_WORDS,
    BOS_ID,
    CODEC,
    EOS_ID,
    KINDS,
    QUESTIONS,
    AvDigitBatches,
    Degrade,
    answer_text,
    decode_answer,
    degrade_image,
    degrade_wave,
    eval_batches,
    eval_examples,
    load_sides,
    vocabulary,
)

FUSED = KINDS.index("fused")


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a.dtype == b.dtype and torch.equal(a, b)


def cat(parts: list) -> dict:
    """Concatenate batches row-wise (nested)."""
    if isinstance(parts[0], dict):
        return {k: cat([p[k] for p in parts]) for k in parts[0]}
    return torch.cat(parts)


def test_vocabulary_questions_and_answers():
    vocab = vocabulary()
    assert vocab == "".join(sorted(set(vocab))) and CODEC.vocab_size == len(vocab)
    assert (BOS_ID, EOS_ID) == (0, 1)
    phrasings = [q for k in KINDS for q in QUESTIONS[k]]
    assert len(set(phrasings)) == len(phrasings) and all(len(QUESTIONS[k]) >= 3 for k in KINDS)
    for text in phrasings + list(ANSWER_WORDS):
        assert CODEC.decode(CODEC.encode(text)) == text
    assert [answer_text(k, 3, 9) for k in KINDS] == ["three", "nine", "no", "twelve", "three"]
    assert answer_text("match", 4, 4) == "yes" and answer_text("sum", 9, 9) == "eighteen"
    assert decode_answer([BOS_ID, *CODEC.encode("seven"), EOS_ID, -1, -1]) == "seven"


def test_batch_contract(side):
    b = AvDigitBatches(side, 16, seed=0).batch(0)
    assert b["image"]["images"].shape == (16, 1, 28, 28) and b["image"]["images"].dtype == torch.uint8
    assert b["image"]["present"].dtype == torch.bool and b["audio"]["present"].shape == (16,)
    wave, lengths = b["audio"]["wave"], b["audio"]["lengths"]
    assert wave.dtype == torch.float32 and lengths.dtype == torch.int64 and wave.shape[1] == int(lengths.max())
    q = b["question"]
    assert q["ids"].dtype == torch.int64 and q["mask"].dtype == torch.bool and q["ids"].shape == q["mask"].shape
    assert q["mask"][:, 0].all() and (q["mask"].long().diff(dim=1) <= 0).all()  # right-padded
    la = b["answer"].shape[1] - 1
    assert b["answer_in"].shape == b["targets"].shape == (16, la)
    assert (b["answer"][:, 0] == BOS_ID).all() and torch.equal(b["targets"], b["answer"][:, 1:])
    real = b["answer"][:, :-1] >= 0
    assert torch.equal(b["answer_in"][real], b["answer"][:, :-1][real]) and (b["answer_in"][~real] == EOS_ID).all()
    assert (b["answer_in"] >= 0).all() and (b["targets"][b["targets"] >= 0] < CODEC.vocab_size).all()
    assert ((b["targets"] == EOS_ID).sum(dim=1) == 1).all()  # one EOS per answer, then ignore
    assert b["kind"].shape == (16,) and b["digits"].shape == (16, 2)


def test_batches_are_a_pure_function_of_seed_and_index(side):
    a, b = AvDigitBatches(side, 12, seed=5), AvDigitBatches(side, 12, seed=5)
    assert equal(a.batch(3), b.batch(3)) and equal(a.batch(3), a.batch(3))
    assert not equal(a.batch(3), a.batch(4)) and not equal(a.batch(3), AvDigitBatches(side, 12, 6).batch(3))


def test_process_slices_concatenate_to_the_one_process_batch(side):
    one = AvDigitBatches(side, 12, seed=1, drop=0.5)
    three = AvDigitBatches(side, 4, seed=1, drop=0.5)
    for index in (0, 7):
        assert equal(one.batch(index), cat([three.batch(index, r, 3) for r in range(3)]))
    assert three.items(three.batch(0, 1, 3)) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_answers_follow_the_digits_in_the_data(side, kind):
    b = AvDigitBatches(side, 40, seed=2, kinds=[kind], drop=0.0).batch(0)
    a, s = b["digits"][:, 0], b["digits"][:, 1]
    assert (b["kind"] == KINDS.index(kind)).all()
    assert b["image"]["present"].all() and b["audio"]["present"].all()
    if kind != "fused":  # undegraded: the data encodes the digits
        assert torch.equal(digit_of_image(b["image"]["images"]), a)
        assert torch.equal(digit_of_wave(b["audio"]["wave"]), s)
        lengths = b["audio"]["lengths"]
        assert all(w.numel() == n for w, n in zip(side.waves, side.clip_lengths.tolist()))
        assert set(lengths.tolist()) <= set(side.clip_lengths.tolist())
    for row in range(40):
        question = CODEC.decode(b["question"]["ids"][row][b["question"]["mask"][row]].tolist())
        assert question in QUESTIONS[kind]
        assert decode_answer(b["answer"][row]) == answer_text(kind, int(a[row]), int(s[row]))


def shifted(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """image (C, H, W) moved right by dx and down by dy pixels, zero fill."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_shift_moves_each_training_image_by_at_most_shift_pixels(side):
    plain = AvDigitBatches(side, 24, seed=6, kinds=["written", "sum"], drop=0.0).batch(2)
    moved_src = AvDigitBatches(side, 24, seed=6, kinds=["written", "sum"], drop=0.0, shift=2)
    moved = moved_src.batch(2)
    offsets = []
    for before, after in zip(plain["image"]["images"], moved["image"]["images"]):
        found = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if torch.equal(shifted(before, dx, dy), after)]
        assert found, "a shifted image is not a translation of its original by at most 2 pixels"
        offsets.append(found[0])
    assert len(set(offsets)) > 5  # offsets vary from image to image
    assert equal({k: v for k, v in plain.items() if k != "image"}, {k: v for k, v in moved.items() if k != "image"})
    halves = AvDigitBatches(side, 12, seed=6, kinds=["written", "sum"], drop=0.0, shift=2)
    assert equal(moved, cat([halves.batch(2, r, 2) for r in range(2)]))
    assert equal(plain, AvDigitBatches(side, 24, seed=6, kinds=["written", "sum"], drop=0.0, shift=0).batch(2))
    with pytest.raises(TzooError, match="shift"):
        AvDigitBatches(side, 4, 0, shift=-1)


def test_affine_warps_training_images_alike_in_any_process_count(side):
    kinds = ["written", "sum"]
    plain = AvDigitBatches(side, 24, seed=6, kinds=kinds, drop=0.0).batch(2)
    warp = Affine(rotate=15.0, scale=0.1, translate=2.0)
    warped = AvDigitBatches(side, 24, seed=6, kinds=kinds, drop=0.0, affine=warp).batch(2)
    changed = (plain["image"]["images"] != warped["image"]["images"]).flatten(1).any(dim=1)
    assert changed.float().mean() > 0.9  # (nearly) every image warped, each its own way
    assert equal({k: v for k, v in plain.items() if k != "image"}, {k: v for k, v in warped.items() if k != "image"})
    halves = AvDigitBatches(side, 12, seed=6, kinds=kinds, drop=0.0, affine=warp)
    assert equal(warped, cat([halves.batch(2, r, 2) for r in range(2)]))
    assert not equal(warped, AvDigitBatches(side, 24, seed=6, kinds=kinds, drop=0.0, affine=warp).batch(3))
    assert equal(plain, AvDigitBatches(side, 24, seed=6, kinds=kinds, drop=0.0, affine=Affine()).batch(2))
    with pytest.raises(TzooError, match="affine: rotate"):
        AvDigitBatches(side, 4, 0, affine=Affine(rotate=-1.0))


def test_match_is_balanced_and_fused_pairs_one_digit(side):
    src = AvDigitBatches(side, 200, seed=3, kinds=["match", "fused", "sum"])
    b = src.batch(0)
    digits, kind = b["digits"], b["kind"]
    match = kind == KINDS.index("match")
    same = digits[match, 0] == digits[match, 1]
    assert 0.4 < same.float().mean() < 0.6
    assert (digits[kind == FUSED, 0] == digits[kind == FUSED, 1]).all()
    assert set(kind.tolist()) == {KINDS.index(k) for k in ("match", "fused", "sum")}
    sums = digits[kind == KINDS.index("sum")].sum(dim=1)
    assert sums.min() >= 0 and sums.max() <= 18 and len(sums.unique()) > 8


def test_fused_inputs_are_degraded_deterministically(side):
    src = AvDigitBatches(side, 30, seed=4, kinds=["fused"])
    b = src.batch(0)
    clean = side.images[0, 0, 0, 0]
    assert (b["image"]["images"] != b["image"]["images"][:, :, 14:15, 14:15]).any()  # noise
    assert (b["image"]["images"][:, 0, 4:24, 4:24] == 0).any() and (b["image"]["images"] != clean).any()
    wave = b["audio"]["wave"]
    assert digit_of_wave(wave).ne(b["digits"][:, 1]).any()  # noise changed the samples
    assert equal(b, src.batch(0))


def test_modality_dropout_only_for_single_modality_questions(side):
    b = AvDigitBatches(side, 1000, seed=0, drop=0.3).batch(0)
    kind, image, audio = b["kind"], b["image"]["present"], b["audio"]["present"]
    written, spoken = kind == KINDS.index("written"), kind == KINDS.index("spoken")
    assert image[written].all() and audio[spoken].all()
    assert 0.2 < (~audio[written]).float().mean() < 0.4 and 0.2 < (~image[spoken]).float().mean() < 0.4
    both = ~written & ~spoken
    assert image[both].all() and audio[both].all()
    assert (b["image"]["images"][~image] == 0).all()
    assert (b["audio"]["lengths"][~audio] == 0).all() and (b["audio"]["wave"][~audio] == 0).all()
    none = AvDigitBatches(side, 200, seed=0, drop=0.0).batch(0)
    assert none["image"]["present"].all() and none["audio"]["present"].all()


def test_fused_dropout_removes_one_input(side):
    b = AvDigitBatches(side, 400, seed=0, kinds=["fused"], fused_drop=0.5).batch(0)
    image, audio = b["image"]["present"], b["audio"]["present"]
    assert (image | audio).all() and 0.15 < (~image).float().mean() < 0.35 and 0.15 < (~audio).float().mean() < 0.35


def test_eval_examples_are_fixed_and_conditions_forced(side):
    ex = eval_examples(side, 8, seed=0)
    assert len(ex) == 8 * len(KINDS) and ex.kind.tolist() == [k for k in range(len(KINDS)) for _ in range(8)]
    assert torch.equal(eval_examples(side, 8, seed=0).image_row, ex.image_row)
    runs = {c: list(eval_batches(side, ex, 16, c)) for c in ("both", "image_only", "audio_only")}
    for both, image_only, audio_only in zip(runs["both"], runs["image_only"], runs["audio_only"]):
        assert both["image"]["present"].all() and both["audio"]["present"].all()
        assert image_only["image"]["present"].all() and not image_only["audio"]["present"].any()
        assert (image_only["audio"]["lengths"] == 0).all()
        assert audio_only["audio"]["present"].all() and not audio_only["image"]["present"].any()
        assert (audio_only["image"]["images"] == 0).all()
        # an input looks the same (degraded alike) whether or not the other one is there
        assert torch.equal(both["image"]["images"], image_only["image"]["images"])
        assert equal(both["audio"]["wave"], audio_only["audio"]["wave"])
        assert equal(both["targets"], image_only["targets"]) and equal(both["kind"], audio_only["kind"])
    split = [b["kind"] for r in range(2) for b in eval_batches(side, ex, 16, "both", rank=r, world=2)]
    assert sorted(torch.cat(split).tolist()) == sorted(ex.kind.tolist())


def test_bad_settings_are_errors(side):
    with pytest.raises(TzooError, match="kinds: 'color'"):
        AvDigitBatches(side, 4, 0, kinds=["written", "color"])
    with pytest.raises(TzooError, match="drop"):
        AvDigitBatches(side, 4, 0, drop=1.5)
    with pytest.raises(TzooError, match="condition 'both_please'"):
        list(eval_batches(side, eval_examples(side, 2), 4, "both_please"))


def test_degradations_have_the_configured_strength():
    g = torch.Generator().manual_seed(0)
    cfg = Degrade(image_noise=0.0, occlusion=10, snr_db=(-3.0, -3.0))
    image = torch.full((1, 28, 28), 200, dtype=torch.uint8)
    out = degrade_image(image, cfg, g)
    zero = out[0] == 0
    assert zero.sum() == 100 and not zero[:4].any() and not zero[24:].any() and not zero[:, :4].any()
    wave = torch.sin(torch.arange(8000) * 0.3)
    noisy = degrade_wave(wave, cfg, g)
    snr = 10 * torch.log10(wave.pow(2).mean() / (noisy - wave).pow(2).mean())
    assert abs(float(snr) + 3.0) < 0.2


def test_load_sides_pairs_the_official_splits(tmp_path):
    write_mnist_parquet(tmp_path / "mnist", "test", [i % 10 for i in range(60)])
    fake_fsdd(tmp_path / "fsdd", indices=(0, 1, 5, 12))
    sides = load_sides(str(tmp_path / "mnist"), str(tmp_path / "fsdd"), val_images=10, carve_test=20)
    assert "only the official test split" in sides.note
    assert len(sides.train.images) == 30 and len(sides.val.images) == 10 and len(sides.test.images) == 20
    assert len(sides.train.waves) == 30 and len(sides.val.waves) == 30 and len(sides.test.waves) == 60
    b = AvDigitBatches(sides.train, 8, 0).batch(0)
    assert b["image"]["images"].shape == (8, 1, 28, 28)
    with pytest.raises(TzooError, match="--data.fsdd_dir"):
        load_sides(str(tmp_path / "mnist"), str(tmp_path / "nowhere"), val_images=10, carve_test=20)


def test_examples_point_at_data_of_their_digits(side):
    ex = AvDigitBatches(side, 300, seed=9).examples(0)
    assert torch.equal(side.image_labels[ex.image_row], ex.written)
    assert torch.equal(side.clip_labels[ex.clip_row], ex.spoken)
    fused = ex.kind == FUSED
    assert fused.any() and torch.equal(ex.written[fused], ex.spoken[fused])
