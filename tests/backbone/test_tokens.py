import torch

from tzoo.backbone import TokenSet, split


def make(b, n, d, type_id, mask=None):
    return TokenSet.of(torch.randn(b, n, d), type_id, torch.arange(n), mask)


def test_cat_then_split_recovers_parts():
    a, b = make(2, 3, 4, 0), make(2, 5, 4, 1, mask=torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool())
    joint, spans = TokenSet.cat([a, b])
    assert joint.embeds.shape == (2, 8, 4)
    assert spans == [(0, 3), (3, 8)]
    assert joint.type_ids[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert joint.positions[0].tolist() == [0, 1, 2, 0, 1, 2, 3, 4]
    assert joint.mask[0].tolist() == [True] * 6 + [False] * 2
    pa, pb = split(joint.embeds, spans)
    assert torch.equal(pa, a.embeds) and torch.equal(pb, b.embeds)


def test_cat_without_padding_keeps_mask_none():
    joint, _ = TokenSet.cat([make(1, 2, 4, 0), make(1, 2, 4, 1)])
    assert joint.mask is None


def test_interleave_orders_steps():
    r, s, a = make(1, 3, 2, 4), make(1, 3, 2, 5), make(1, 3, 2, 6)
    woven = TokenSet.interleave([r, s, a])
    assert woven.type_ids[0].tolist() == [4, 5, 6] * 3
    assert woven.positions[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert torch.equal(woven.embeds[0, 4], s.embeds[0, 1])


def test_interleave_weaves_masks_types_and_positions():
    b, t, d = 2, 3, 4
    masks = [torch.tensor([[True, True, False], [True, False, False]]), None]
    sets = [TokenSet.of(torch.randn(b, t, d), k, torch.arange(t) + 10 * k, masks[k]) for k in range(2)]
    joint = TokenSet.interleave(sets)
    assert joint.embeds.shape == (b, 2 * t, d)
    assert torch.equal(joint.embeds[:, 0::2], sets[0].embeds) and torch.equal(joint.embeds[:, 1::2], sets[1].embeds)
    assert joint.type_ids[0].tolist() == [0, 1, 0, 1, 0, 1]
    assert joint.positions[0].tolist() == [0, 10, 1, 11, 2, 12]
    assert joint.mask.tolist() == [[True, True, True, True, False, True], [True, True, False, True, False, True]]
