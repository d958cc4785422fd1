"""Contracts of the shared backbone at tiny sizes."""
import pytest
import torch

from tzoo.backbone import Backbone, BackboneConfig, TokenSet

CFG = BackboneConfig(dim=32, depth=2, heads=4, max_positions=32, num_types=4)


@pytest.fixture
def backbone():
    torch.manual_seed(0)
    model = Backbone(CFG).eval()
    with torch.no_grad():  # large random weights: every interaction is clearly visible
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def tokens(x, mask=None, type_id=0):
    return TokenSet.of(x, type_id, torch.arange(x.shape[1]), mask)


def test_causal_invariance(backbone):
    x = torch.randn(2, 10, 32)
    y = x.clone()
    y[:, 6:] = torch.randn(2, 4, 32)  # change only later tokens
    a, b = backbone(tokens(x), "causal"), backbone(tokens(y), "causal")
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-3)


def test_full_attention_sees_the_future(backbone):
    x = torch.randn(1, 6, 32)
    y = x.clone()
    y[:, -1] += torch.randn(32)  # (a constant shift would vanish in LayerNorm)
    assert not torch.allclose(backbone(tokens(x))[:, 0], backbone(tokens(y))[:, 0], atol=1e-4)


@pytest.mark.parametrize("pattern", ["full", "causal", "prefix"])
def test_padding_invariance(backbone, pattern):
    x = torch.randn(1, 5, 32)
    padded = torch.cat([x, torch.randn(1, 3, 32) * 5], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    prefix = torch.tensor([2])
    a = backbone(tokens(x), pattern, prefix_len=prefix)
    b = backbone(tokens(padded, mask), pattern, prefix_len=prefix)
    assert torch.allclose(a, b[:, :5], atol=1e-5)
    assert torch.isfinite(b).all()


def test_all_padding_row_gives_no_nan(backbone):
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = backbone(tokens(torch.randn(2, 3, 32), mask), "full")
    assert torch.isfinite(out).all()


def test_prefix_is_bidirectional_inside_and_causal_after(backbone):
    x = torch.randn(1, 8, 32)
    prefix = torch.tensor([4])
    base = backbone(tokens(x), "prefix", prefix_len=prefix)
    y = x.clone()
    y[:, 3] += torch.randn(32)  # last prefix token: earlier prefix tokens see it
    changed = backbone(tokens(y), "prefix", prefix_len=prefix)
    assert not torch.allclose(base[:, 0], changed[:, 0], atol=1e-4)
    z = x.clone()
    z[:, 6] += torch.randn(32)  # a token after the prefix: nothing before it sees it
    changed = backbone(tokens(z), "prefix", prefix_len=prefix)
    assert torch.allclose(base[:, :6], changed[:, :6], atol=1e-6)


def test_type_and_position_embeddings_matter(backbone):
    x = torch.randn(1, 4, 32)
    a = backbone(tokens(x, type_id=0))
    b = backbone(tokens(x, type_id=1))
    assert not torch.allclose(a, b, atol=1e-4)
    shifted = TokenSet.of(x, 0, torch.arange(4) + 3)
    assert not torch.allclose(a, backbone(shifted), atol=1e-4)


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = Backbone(BackboneConfig(dim=16, depth=2, heads=2, max_positions=8, num_types=2, bias=True))
    x = torch.randn(2, 6, 16)
    ts = TokenSet(x, torch.randint(2, (2, 6)), torch.randint(8, (2, 6)))
    model(ts, "causal").pow(2).sum().backward()
    for name, p in model.named_parameters():
        if name.startswith(("pos_embed", "type_embed")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_kv_cache_matches_full_recompute(backbone):
    x = torch.randn(2, 9, 32)
    full = backbone(tokens(x), "causal")
    cache = backbone.new_cache(2, 16)
    outs = [backbone(TokenSet.of(x[:, :4], 0, torch.arange(4)), "causal", cache=cache)]  # prefill
    outs.append(backbone(TokenSet.of(x[:, 4:6], 0, torch.arange(4, 6)), "causal", cache=cache))  # chunk
    for t in range(6, 9):  # one token at a time
        outs.append(backbone(TokenSet.of(x[:, t:t + 1], 0, torch.tensor([t])), "causal", cache=cache))
    assert cache.length == 9
    assert torch.allclose(torch.cat(outs, dim=1), full, atol=1e-5)


def test_kv_cache_respects_padding(backbone):
    x = torch.randn(1, 6, 32)
    mask = torch.tensor([[True, True, False, True, True, True]])
    full = backbone(tokens(x, mask), "causal")
    cache = backbone.new_cache(1, 8)
    a = backbone(TokenSet.of(x[:, :3], 0, torch.arange(3), mask[:, :3]), "causal", cache=cache)
    b = backbone(TokenSet.of(x[:, 3:], 0, torch.arange(3, 6)), "causal", cache=cache)
    assert torch.allclose(torch.cat([a, b], 1)[mask], full[mask], atol=1e-5)


def test_config_validation():
    with pytest.raises(ValueError, match="heads"):
        BackboneConfig(dim=30, heads=4).validate()
    with pytest.raises(ValueError, match="max_positions"):
        BackboneConfig(max_positions=8).with_positions(16)
    assert BackboneConfig().with_positions(16).max_positions == 16


def test_attention_maps_are_distributions(backbone):
    maps = backbone.attention_maps(tokens(torch.randn(2, 5, 32)), "causal")
    assert len(maps) == CFG.depth and maps[0].shape == (2, 4, 5, 5)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 4, 5), atol=1e-5)
    assert maps[0][0, 0, 0, 1:].abs().sum() == 0  # causal: first token sees only itself


def test_prefix_pattern_with_kv_cache_matches_full_recompute(backbone):
    """A prefix decoder: encode the prefix (bidirectional) into the cache, then decode causally."""
    x = torch.randn(2, 9, 32)
    prefix = torch.tensor([4, 4])
    full = backbone(tokens(x), "prefix", prefix_len=prefix)
    cache = backbone.new_cache(2, 16)
    outs = [backbone(TokenSet.of(x[:, :4], 0, torch.arange(4)), "prefix", prefix_len=prefix, cache=cache)]
    for t in range(4, 9):
        outs.append(backbone(TokenSet.of(x[:, t:t + 1], 0, torch.tensor([t])), "prefix", prefix_len=prefix,
                             cache=cache))
    assert torch.allclose(torch.cat(outs, dim=1), full, atol=1e-5)


def test_prefix_pattern_with_padded_prefix_and_cache(backbone):
    """Padding inside the prefix stays invisible on the cached path too."""
    x = torch.randn(1, 6, 32)
    mask = torch.tensor([[True, True, False, True, True, True]])
    prefix = torch.tensor([3])
    full = backbone(tokens(x, mask), "prefix", prefix_len=prefix)
    cache = backbone.new_cache(1, 8)
    head = backbone(TokenSet.of(x[:, :3], 0, torch.arange(3), mask[:, :3]), "prefix", prefix_len=prefix, cache=cache)
    tail = [backbone(TokenSet.of(x[:, t:t + 1], 0, torch.tensor([t])), "prefix", prefix_len=prefix, cache=cache)
            for t in range(3, 6)]
    got = torch.cat([head, *tail], dim=1)
    assert torch.allclose(got[:, [0, 1, 3, 4, 5]], full[:, [0, 1, 3, 4, 5]], atol=1e-5)


def test_attention_runs_in_float32_under_cpu_autocast():
    from tzoo.backbone.attention import attend

    q, k, v = (torch.randn(2, 4, 9, 8, dtype=torch.bfloat16) for _ in range(3))
    mask = torch.ones(9, 9, dtype=torch.bool).tril()
    reference = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attend(q, k, v, mask)
    assert y.dtype == torch.float32 and torch.allclose(y, reference, atol=1e-6)
    assert attend(q, k, v, mask).dtype == torch.bfloat16  # outside autocast: the inputs' own precision


def test_backbone_under_cpu_autocast_is_close_to_float32(backbone):
    x = torch.randn(2, 10, 32)
    full = backbone(tokens(x), "causal")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = backbone(tokens(x), "causal").float()
    assert torch.allclose(full, low, atol=0.1) and not torch.equal(full, low)  # bf16 products: close, not exact


@pytest.mark.parametrize("pattern", ["full", "causal", "prefix"])
@pytest.mark.parametrize("rows", [slice(1, None, 3), slice(5, 9), slice(0, 1)])
@pytest.mark.parametrize("padded", [False, True])
def test_reading_out_rows_equals_slicing_every_rows_states(backbone, pattern, rows, padded):
    x = torch.randn(2, 9, 32)
    mask = torch.tensor([[True] * 9, [True] * 6 + [False] * 3]) if padded else None
    prefix = torch.tensor([4, 3])
    full = backbone(tokens(x, mask), pattern, prefix_len=prefix)  # (B, N, D)
    got = backbone(tokens(x, mask), pattern, prefix_len=prefix, rows=rows)  # (B, R, D)
    assert got.shape == full[:, rows].shape
    torch.testing.assert_close(got, full[:, rows], atol=1e-5, rtol=1e-5)


def test_reading_out_rows_trains_every_parameter_and_refuses_a_cache(backbone):
    torch.manual_seed(0)
    model = Backbone(BackboneConfig(dim=16, depth=2, heads=2, max_positions=8, num_types=2, bias=True))
    ts = TokenSet(torch.randn(2, 6, 16), torch.randint(2, (2, 6)), torch.randint(8, (2, 6)))
    model(ts, "causal", rows=slice(1, None, 3)).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="rows"):
        backbone(tokens(torch.randn(1, 3, 32)), "causal", cache=backbone.new_cache(1, 8), rows=slice(0, 1))
