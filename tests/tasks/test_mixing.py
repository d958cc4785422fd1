"""Mixing modalities in one set: absent inputs are masked, subsets mix in a batch, answers are generated."""
import pytest
import torch

from tzoo.backbone import Backbone, BackboneConfig
from tzoo.tasks import LanguageModelTask, TzooModel
from tzoo.tasks.answer import generate_answer
from tzoo.tokenizers import TextTokenizer
from tzoo.tokenizers.audio import AudioTokenizer, MelConfig
from tzoo.tokenizers.image import ImageTokenizer
from tzoo.tokenizers.presence import MaybeAbsent
from tzoo.tokenizers.types import ANSWER, QUESTION

V, D = 13, 16
INPUTS = ("image", "audio", "question", "answer")


FUSIONS = pytest.mark.parametrize("fusion", ["prefix", "encdec"])


def tiny_model(fusion: str = "prefix") -> TzooModel:
    torch.manual_seed(0)
    mel = MelConfig(n_mels=8)
    tokenizers = {"image": MaybeAbsent(ImageTokenizer(7, D, channels=1, mean=(0.5,), std=(0.5,))),
                  "audio": MaybeAbsent(AudioTokenizer(mel, D, 64)),
                  "question": TextTokenizer(V, D, QUESTION), "answer": TextTokenizer(V, D, ANSWER)}
    task = LanguageModelTask(D, V, inputs=INPUTS, pattern=fusion)
    model = TzooModel(tokenizers, Backbone(BackboneConfig(dim=D, depth=2, heads=2, max_positions=64)), {"qa": task})
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def batch(rows=3, image_present=None, audio_present=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    present = lambda p: torch.ones(rows, dtype=torch.bool) if p is None else torch.tensor(p)  # noqa: E731
    return {"image": {"images": torch.randint(0, 256, (rows, 1, 28, 28), generator=g, dtype=torch.uint8),
                      "present": present(image_present)},
            "audio": {"wave": torch.randn(rows, 4000, generator=g) * 0.1,
                      "lengths": torch.full((rows,), 4000), "present": present(audio_present)},
            "question": {"ids": torch.randint(1, V, (rows, 5), generator=g), "mask": torch.ones(rows, 5, dtype=bool)},
            "answer": torch.randint(1, V, (rows, 4), generator=g)}


@FUSIONS
def test_spans_follow_the_inputs_and_the_answer_is_causal(fusion):
    model = tiny_model(fusion)
    tokens, spans = model.tokenize(batch())
    assert [b - a for a, b in spans][2:] == [5, 4] and spans[-1][1] == tokens.embeds.shape[1]
    assert spans[0] == (0, 16)  # 28x28 in 7x7 patches
    b = batch()
    base = model(b).outputs["logits"]
    b2 = batch()
    b2["answer"][:, 2] = (b2["answer"][:, 2] + 1) % V  # a later answer token
    changed = model(b2).outputs["logits"]
    assert torch.allclose(base[:, :2], changed[:, :2], atol=1e-5) and not torch.allclose(base[:, 2:], changed[:, 2:])
    b3 = batch()
    b3["question"]["ids"][:, -1] = (b3["question"]["ids"][:, -1] + 1) % V  # the prefix is seen by every answer token
    assert not torch.allclose(base[:, 0], model(b3).outputs["logits"][:, 0], atol=1e-4)


@FUSIONS
def test_an_absent_modality_has_no_effect(fusion):
    model = tiny_model(fusion)
    a = batch(image_present=[False] * 3, seed=0)
    b = batch(image_present=[False] * 3, seed=0)
    b["image"]["images"] = torch.randint(0, 256, b["image"]["images"].shape, dtype=torch.uint8)
    la, lb = model(a).outputs["logits"], model(b).outputs["logits"]
    assert torch.allclose(la, lb, atol=1e-5)
    present = batch(seed=0)
    assert not torch.allclose(la, model(present).outputs["logits"], atol=1e-3)  # the check can fail


@FUSIONS
def test_one_batch_mixes_examples_with_different_subsets(fusion):
    model = tiny_model(fusion)
    mixed = batch(image_present=[True, False, True], audio_present=[True, True, False])
    together = model(mixed).outputs["logits"]
    for row in range(3):
        alone = {k: ({kk: vv[row:row + 1] for kk, vv in v.items()} if isinstance(v, dict) else v[row:row + 1])
                 for k, v in mixed.items()}
        assert torch.allclose(model(alone).outputs["logits"][0], together[row], atol=1e-5), row


@FUSIONS
def test_cached_answer_equals_greedy_recomputation(fusion):
    model = tiny_model(fusion)
    b = batch(image_present=[True, False, True])
    got = generate_answer(model, b, bos=0, eos=V - 1, max_len=6)
    ids = torch.zeros(3, 1, dtype=torch.long)
    for t in range(got.shape[1]):
        with torch.no_grad():
            logits = model({**b, "answer": ids}).outputs["logits"][:, -1]
        nxt = logits.argmax(-1)
        assert torch.equal(got[:, t][got[:, :t].eq(V - 1).sum(1) == 0], nxt[got[:, :t].eq(V - 1).sum(1) == 0]), t
        ids = torch.cat([ids, got[:, t:t + 1]], dim=1)


def test_the_answer_read_out_alone_equals_the_whole_set_run():
    """The model hands the task only the answer's states (the backbone's last block computes no
    others): the same logits as running every token and keeping the answer's."""
    model = tiny_model("prefix")
    b = batch(image_present=[True, False, True])
    parts, masks = model.encode(b)
    assert parts[:-1] == [None] * 3 and parts[-1].shape[1] == 4
    tokens, spans = model.tokenize(b)
    whole = model.backbone(tokens, "prefix", model.prefix_len(tokens, spans, "prefix"))
    torch.testing.assert_close(parts[-1], whole[:, spans[-1][0]:], atol=1e-5, rtol=1e-5)


def test_both_fusions_have_the_same_parameters_and_differ_in_output():
    prefix, encdec = tiny_model("prefix"), tiny_model("encdec")
    assert [(n, p.shape) for n, p in prefix.named_parameters()] == [(n, p.shape) for n, p in encdec.named_parameters()]
    b = batch()
    a, c = prefix(b).outputs["logits"], encdec(b).outputs["logits"]
    assert a.shape == c.shape and not torch.allclose(a, c, atol=1e-3)


def test_encdec_answer_sees_the_encoders_final_states():
    """The encoder's states do not depend on the answer, and they are exactly a full-attention
    pass over the conditioning set alone (what every decoder block attends to)."""
    model = tiny_model("encdec")
    b, b2 = batch(), batch()
    b2["answer"] = (b2["answer"] + 1) % V
    parts, _ = model.encode(b)
    parts2, _ = model.encode(b2)
    for x, y in zip(parts[:3], parts2[:3]):
        assert torch.allclose(x, y, atol=1e-6)
    tokens, spans = model.tokenize(b)
    memory = model.backbone(tokens.slice(0, spans[-1][0]), "full")
    assert torch.allclose(torch.cat(parts[:3], dim=1), memory, atol=1e-6)
