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


@pytest.mark.parametrize("height, width, patch", [(32, 32, 4), (32, 32, 2), (16, 24, 8)])
def test_conv_stem_shapes_and_positions(height, width, patch):
    tok = ImageTokenizer(patch, 24, stem="conv", stem_channels=8)
    ts = tok(torch.randint(0, 256, (3, 3, height, width), dtype=torch.uint8))
    n = (height // patch) * (width // patch)
    assert ts.embeds.shape == (3, n, 24)
    assert ts.positions.expand(3, n)[1].tolist() == list(range(n))


def test_conv_stem_tokens_are_row_major_and_near_their_cell():
    tok = ImageTokenizer(4, 8, stem="conv", stem_channels=4)
    img = torch.randn(1, 3, 16, 16)
    changed = img.clone()
    changed[:, :, 1:3, 13:15] += 1.0  # the middle of the top-right cell (row 0, column 3)
    differs = (tok(changed).embeds - tok(img).embeds).abs().sum(-1)[0].view(4, 4) > 1e-6
    assert differs[0, 3] and differs.sum() <= 4 and not differs[2:, :].any() and not differs[:, :2].any()


def test_conv_stem_patch_dropout_picks_full_set_tokens():
    tok = ImageTokenizer(4, 8, keep=0.25, stem="conv", stem_channels=4)
    x = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    full, dropped = tok.eval()(x), tok.train()(x)
    assert dropped.embeds.shape == (2, 4, 8)
    for b in range(2):
        assert torch.allclose(dropped.embeds[b], full.embeds[b, dropped.positions[b]], atol=1e-6)


def test_conv_stem_needs_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        ImageTokenizer(6, 8, stem="conv")


@pytest.mark.parametrize("stem", ["linear", "conv"])
def test_pad_is_zero_pixels_around_the_raw_image(stem):
    tok = ImageTokenizer(8, 16, channels=1, mean=(0.13,), std=(0.31,), stem=stem, stem_channels=4, pad=2)
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    padded = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    padded[:, :, 2:30, 2:30] = x
    plain = ImageTokenizer(8, 16, channels=1, mean=(0.13,), std=(0.31,), stem=stem, stem_channels=4)
    plain.load_state_dict(tok.state_dict())
    out = tok(x)
    assert out.embeds.shape == (2, 16, 16) and tok.grid(28, 28) == (4, 4)
    assert torch.allclose(out.embeds, plain(padded).embeds, atol=1e-6)
    with pytest.raises(ValueError, match="pad"):
        ImageTokenizer(8, 16, pad=-1)
