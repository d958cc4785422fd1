import pytest
import torch

from tzoo.tokenizers.image import ImageTokenizer
from tzoo.tokenizers.types import IMAGE


@pytest.mark.parametrize("height, width, patch", [(32, 32, 4), (32, 32, 8), (16, 24, 4), (28, 28, 7)])
def test_patch_shapes_and_positions(height, width, patch):
    tok = ImageTokenizer(patch, 24)
    ts = tok(torch.randint(0, 256, (3, 3, height, width), dtype=torch.uint8))
    n = (height // patch) * (width // patch)
    assert ts.embeds.shape == (3, n, 24)
    assert ts.positions.expand(3, n)[1].tolist() == list(range(n))
    assert ts.type_ids.unique().tolist() == [IMAGE]
    assert ts.mask is None


def test_patches_are_row_major_and_local():
    tok = ImageTokenizer(4, 8)
    img = torch.zeros(1, 3, 8, 8)
    img[:, :, 0:4, 4:8] = 1.0  # top-right patch only
    base = tok(torch.zeros(1, 3, 8, 8)).embeds
    changed = tok(img).embeds
    differs = (changed - base).abs().sum(-1)[0] > 1e-6
    assert differs.tolist() == [False, True, False, False]


def test_uint8_and_float_inputs_agree():
    tok = ImageTokenizer(4, 8)
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.allclose(tok(x).embeds, tok(x.float() / 255).embeds, atol=1e-6)


def test_size_not_a_multiple_of_patch():
    with pytest.raises(ValueError, match="multiple of patch size"):
        ImageTokenizer(5, 8)(torch.zeros(1, 3, 32, 32))


def test_patch_dropout_keeps_positions_and_only_trains():
    tok = ImageTokenizer(4, 8, keep=0.5)
    x = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    full = tok.eval()(x)
    assert full.embeds.shape == (3, 16, 8)
    dropped = tok.train()(x)
    assert dropped.embeds.shape == (3, 8, 8) and dropped.positions.shape == (3, 8)
    for b in range(3):  # each kept token is exactly the full-set token at its position
        pos = dropped.positions[b]
        assert pos.unique().numel() == 8
        assert torch.allclose(dropped.embeds[b], full.embeds[b, pos], atol=1e-6)
