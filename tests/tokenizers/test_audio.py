"""AudioTokenizer: slice shapes and positions, masks from lengths, level and padding invariance."""
import math
from dataclasses import replace

import pytest
import torch

from tests.audio_fixtures import tone
from tzoo.backbone import Backbone, BackboneConfig
from tzoo.modalities.clips import pad_batch
from tzoo.tasks import ClassificationTask, TzooModel
from tzoo.tokenizers import QueryTokenizer
from tzoo.tokenizers.audio import AudioTokenizer, LogMel, MelConfig, normalise
from tzoo.tokenizers.types import AUDIO

CFG = MelConfig(n_fft=256, win_length=200, hop=80, n_mels=20, frames_per_token=4)


def clips(*seconds: float) -> list[torch.Tensor]:
    return [torch.from_numpy(tone(d % 10, s, seed=d)) for d, s in enumerate(seconds)]


def test_slices_shapes_positions_and_mask():
    tok = AudioTokenizer(CFG, dim=16, max_tokens=64).eval()
    waves = clips(0.5, 0.2, 0.031)  # the last is shorter than one FFT window
    wave, lengths = pad_batch(waves)
    ts = tok(wave, lengths)
    frames = [(max(n, 256) - 256) // 80 + 1 for n in lengths.tolist()]
    n = math.ceil(frames[0] / 4)
    assert ts.embeds.shape == (3, n, 16)
    assert ts.positions.tolist() == [list(range(n))]
    assert ts.type_ids.unique().tolist() == [AUDIO]
    assert ts.mask.sum(dim=1).tolist() == [math.ceil(f / 4) for f in frames]
    assert CFG.tokens(int(lengths[1])) == math.ceil(frames[1] / 4)


STEM = replace(CFG, proj="stem", conv_channels=4, norm="both")
DEEP_STEM = replace(STEM, conv_depth=2)
VARIANTS = [CFG, replace(CFG, proj="conv", conv_channels=4), replace(CFG, norm="band"), replace(CFG, norm="both"), STEM,
            DEEP_STEM]


@pytest.mark.parametrize("cfg", VARIANTS, ids=["linear", "conv", "band", "both", "stem", "deep-stem"])
def test_padding_and_level_never_change_the_tokens(cfg):
    tok = AudioTokenizer(cfg, dim=16, max_tokens=64).eval()
    a, b = clips(0.33, 0.5)
    alone = tok(a[None], torch.tensor([a.numel()]))
    wave, lengths = pad_batch([a, b], length=b.numel() + 777)
    wave[0, a.numel():] = 0.3  # even garbage after the clip's end is ignored
    together = tok(wave, lengths)
    n = alone.embeds.shape[1]
    assert together.mask[0, n:].sum() == 0 and together.mask[0, :n].all()
    assert torch.allclose(together.embeds[0, :n], alone.embeds[0], atol=1e-5)
    quiet = tok(0.01 * a[None] + 0.2, torch.tensor([a.numel()]))  # per-clip normalisation: level-free
    assert torch.allclose(quiet.embeds, alone.embeds, atol=1e-3)


def test_spec_augment_only_while_training():
    tok = AudioTokenizer(MelConfig(freq_masks=2, freq_mask_width=8, time_masks=2, time_mask_width=5),
                         dim=8, max_tokens=64)
    wave, lengths = pad_batch(clips(0.4, 0.4))
    tok.eval()
    assert torch.equal(tok(wave, lengths).embeds, tok(wave, lengths).embeds)
    tok.train()
    torch.manual_seed(0)
    first = tok(wave, lengths).embeds
    assert not torch.equal(first, tok(wave, lengths).embeds)


def test_band_norm_removes_a_fixed_filter_clip_norm_keeps_it():
    x, w = torch.randn(1, 20, 30), torch.ones(1, 1, 30)
    colour = torch.linspace(-2, 2, 20)[None, :, None]  # a fixed filter adds a constant per band in log-mel
    assert torch.allclose(normalise(x, w, True), normalise(x + colour, w, True), atol=1e-5)
    assert torch.allclose(normalise(x, w, False), normalise(x + 3.0, w, False), atol=1e-5)  # level only
    assert not torch.allclose(normalise(x, w, False), normalise(x + colour, w, False), atol=1e-2)
    both = LogMel(replace(CFG, norm="both")).eval()
    feats, _ = both(torch.from_numpy(tone(4, 0.3))[None])
    assert feats.shape[1] == 2 * CFG.n_mels and replace(CFG, norm="both").bands == 40


def test_too_many_slices_is_refused():
    tok = AudioTokenizer(CFG, dim=8, max_tokens=3)
    with pytest.raises(ValueError, match="max_tokens"):
        tok(torch.randn(1, 8000))


def frame_reach(cfg: MelConfig) -> set[int]:
    """Tokens whose embedding changes when one log-mel frame (the first of token 3) changes."""
    torch.manual_seed(0)
    tok = AudioTokenizer(cfg, dim=8, max_tokens=64).eval()
    x = torch.randn(1, cfg.bands, 32)
    mask = torch.ones(1, 32, dtype=torch.bool)
    tok.logmel.forward = lambda wave, lengths: (wave, mask)  # feed log-mel values directly
    y = x.clone()
    y[:, :, 3 * cfg.frames_per_token] += 1.0
    diff = (tok(y, None).embeds - tok(x, None).embeds).abs().amax(dim=-1)[0]  # (N,)
    return set((diff > 1e-6).nonzero().flatten().tolist())


def test_stem_tokens_see_neighbouring_frames_slice_tokens_do_not():
    assert frame_reach(replace(CFG, proj="conv", conv_channels=4)) == {3}
    assert frame_reach(STEM) == {1, 2, 3, 4}  # frame 12 borders token 2; the last conv adds a token each side
    assert frame_reach(replace(STEM, frames_per_token=2)) == {0, 1, 2, 3, 4, 5}
    assert frame_reach(DEEP_STEM) == set(range(7))  # a second conv per stage widens the rim to 3 tokens a side
    assert STEM.tokens(8000) == CFG.tokens(8000)


def test_stem_needs_a_power_of_two_slice():
    with pytest.raises(ValueError, match="frames_per_token"):
        replace(STEM, frames_per_token=3).validate()


@pytest.mark.parametrize("pool, cfg", [("cls", CFG), ("mean", CFG), ("mean", VARIANTS[1]), ("mean", STEM),
                                       ("mean", DEEP_STEM)])
def test_a_clip_padded_more_or_less_gives_the_same_logits(pool, cfg):
    torch.manual_seed(0)
    backbone = Backbone(BackboneConfig(dim=16, depth=2, heads=2, max_positions=64))
    tokenizers = {"audio": AudioTokenizer(cfg, 16, 64)}
    inputs = ("audio",)
    if pool == "cls":
        tokenizers, inputs = {"query": QueryTokenizer(1, 16), **tokenizers}, ("query", "audio")
    task = ClassificationTask(16, 10, inputs, pool)
    torch.nn.init.normal_(task.head.weight)  # zero-initialised heads would make every logit equal
    model = TzooModel(tokenizers, backbone, {"digits": task}).eval()
    short, long = clips(0.21, 0.6)

    def logits(waves, length=None):
        wave, lengths = pad_batch(waves, length)
        batch = {"audio": {"wave": wave, "lengths": lengths}}
        return model(batch).outputs["logits"]

    alone = logits([short])[0]
    assert torch.allclose(logits([short, long])[0], alone, atol=1e-5)
    assert torch.allclose(logits([short], length=long.numel() * 2)[0], alone, atol=1e-5)
    assert not torch.allclose(logits([long])[0], alone, atol=1e-3)  # the check can fail
