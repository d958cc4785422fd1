import pytest
import torch

from tzoo.backbone import Backbone, BackboneConfig
from tzoo.tasks import LanguageModelTask, TzooModel, generate, score
from tzoo.tokenizers import TextTokenizer


def tiny_lm(vocab=11, block=12, tie=True):
    torch.manual_seed(0)
    backbone = Backbone(BackboneConfig(dim=16, depth=2, heads=2, max_positions=block))
    text = TextTokenizer(vocab, 16)
    task = LanguageModelTask(16, vocab, tied=text.embed if tie else None)
    return TzooModel({"text": text}, backbone, {"lm": task}).eval()


def test_loss_is_near_log_vocab_at_init():
    model = tiny_lm()
    ids = torch.randint(11, (3, 8))
    out = model({"text": ids, "targets": torch.roll(ids, -1, 1)})
    assert abs(out.loss.item() - torch.log(torch.tensor(11.0)).item()) < 0.2
    assert out.outputs["logits"].shape == (3, 8, 11)


def test_tied_head_shares_the_embedding():
    model = tiny_lm()
    assert model.head().head.weight is model.tokenizers["text"].embed.weight
    untied = tiny_lm(tie=False)  # one model: comparing two different instances would always differ
    assert untied.head().head.weight is not untied.tokenizers["text"].embed.weight
    assert not torch.equal(untied.head().head.weight, untied.tokenizers["text"].embed.weight)


def test_every_parameter_gets_a_gradient():
    model = tiny_lm(tie=False).train()
    ids = torch.randint(11, (2, 8))
    model({"text": ids, "targets": torch.roll(ids, -1, 1)}).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ignored_targets_do_not_count():
    model = tiny_lm()
    ids = torch.randint(11, (1, 8))
    targets = torch.full((1, 8), -1)
    targets[0, :3] = ids[0, 1:4]
    total, count = score(model, [{"text": ids, "targets": targets}], torch.device("cpu"))
    assert count.item() == 3
    full = model({"text": ids, "targets": targets}).loss
    assert torch.allclose(total / count, full.double(), atol=1e-5)


def test_kv_cache_generation_equals_recompute_within_the_window():
    model = tiny_lm(block=12)
    prompt = torch.randint(11, (2, 3))
    with_cache = generate(model, prompt, 9, block_size=12, temperature=0, use_cache=True)
    without = generate(model, prompt, 9, block_size=12, temperature=0, use_cache=False)
    assert torch.equal(with_cache, without)
    assert with_cache.shape == (2, 12)


def test_generation_runs_past_the_window_and_is_seeded():
    model = tiny_lm(block=8)
    prompt = torch.randint(11, (1, 2))
    a = generate(model, prompt, 30, 8, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(1))
    b = generate(model, prompt, 30, 8, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (1, 32)
    c = generate(model, prompt, 30, 8, temperature=1.0, top_k=5, use_cache=False,
                 generator=torch.Generator().manual_seed(1))
    assert c.shape == (1, 32) and torch.equal(c[:, :8], a[:, :8])  # same draws until the window first fills


def test_no_cache_generation_past_the_window_sees_the_last_block():
    """Without a cache each new token is the greedy pick given exactly the last `block` tokens."""
    model = tiny_lm(block=8)
    out = generate(model, torch.randint(11, (2, 3)), 20, 8, temperature=0, use_cache=False)
    for t in range(3, out.shape[1]):
        window = out[:, max(0, t - 8):t].clone()
        with torch.no_grad():
            expected = model({"text": window}).outputs["logits"][:, -1].argmax(-1)
        assert torch.equal(out[:, t], expected), t


@pytest.mark.parametrize("prompt_len", [3, 11])
def test_kv_cache_generation_past_the_window_equals_uncached_decoding_of_its_window(prompt_len):
    """With the cache, past the window: each step's logits are those of an uncached forward pass over
    the window the cache holds, which restarts from the last half window when full and grows back."""
    block, new = 8, 30
    model = tiny_lm(block=block)
    steps = []
    hook = model.head().head.register_forward_hook(lambda m, args, out: steps.append(out.detach().clone()))
    try:
        out = generate(model, torch.randint(11, (2, prompt_len)), new, block, temperature=0, use_cache=True)
    finally:
        hook.remove()
    assert len(steps) == new and out.shape == (2, prompt_len + new)
    held = min(prompt_len, block)
    for t, logits in zip(range(prompt_len, out.shape[1]), steps):
        with torch.no_grad():
            expected = model({"text": out[:, t - held:t].clone()}).outputs["logits"][:, -1]
        torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5, msg=f"token {t}, window {held}")
        assert torch.equal(out[:, t], logits.argmax(-1))
        held = block // 2 if held == block else held + 1


def test_prediction_needs_no_targets():
    model = tiny_lm()
    ids = torch.randint(11, (2, 5))
    out = model({"text": ids})
    assert out.loss is None and out.outputs["logits"].shape == (2, 5, 11)


def test_top_k_one_is_greedy():
    model = tiny_lm()
    prompt = torch.randint(11, (1, 3))
    greedy = generate(model, prompt, 5, 12, temperature=0)
    top1 = generate(model, prompt, 5, 12, temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(greedy, top1)


def test_empty_prompt_is_rejected():
    with pytest.raises(ValueError):
        generate(tiny_lm(), torch.zeros(1, 0, dtype=torch.long), 3, 12)
