"""Image and WAV converters: every mode / format / width to the model's tensor, with a tally of changes."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from tests.audio_fixtures import tone, write_wav
from tests.modalities.data_fixtures import encode, image
from tzoo.errors import TzooError
from tzoo.modalities.convert import AudioConverter, Conversions, ImageConverter


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1", "CMYK", "LA"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_mode_becomes_uint8_at_the_channel_count(mode, channels):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    x = ImageConverter(8, channels)(encode(image(mode), fmt), "x.png")
    assert x.dtype == torch.uint8 and x.shape == (channels, 8, 8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"])
def test_every_format_decodes_to_the_same_picture(fmt):
    smooth = Image.fromarray(np.tile(np.arange(0, 256, 32, dtype=np.uint8)[None, :, None], (8, 1, 3)), "RGB")
    x = ImageConverter(8, 3)(encode(smooth, fmt), f"x.{fmt}")
    want = torch.from_numpy(np.array(smooth)).permute(2, 0, 1).int()
    assert x.shape == (3, 8, 8) and (x.int() - want).abs().float().mean() < 12  # JPEG / WebP are lossy


def test_gif_takes_the_first_frame():
    frames = [Image.new("L", (4, 4), v) for v in (200, 10)]
    b = io.BytesIO()
    frames[0].save(b, format="GIF", save_all=True, append_images=frames[1:])
    x = ImageConverter(4, 1)(b.getvalue(), "a.gif")
    assert int(x.float().mean()) == 200


def test_sixteen_bit_grey_is_scaled_not_clipped():
    a = np.array([[0, 257 * 100, 65535, 257 * 50]], dtype=np.uint16).reshape(2, 2)
    x = ImageConverter(2, 1)(encode(Image.fromarray(a)), "deep.png")
    assert x.flatten().tolist() == [0, 100, 255, 50]


def test_tally_counts_mode_changes_and_resizes():
    tally, conv = Conversions(), ImageConverter(4, 3)
    for _ in range(3):
        conv(encode(image("RGBA", (8, 8))), "a.png", tally)
    conv(encode(image("RGB", (4, 4))), "b.png", tally)
    conv(encode(image("RGB", (8, 6))), "c.png", tally)
    assert tally.summary() == "converted 3 RGBA -> RGB, 3 resized 8x8 -> 4x4, 1 resized 8x6 -> 4x4 (centre crop)"
    assert Conversions().summary() == ""


def test_crop_keeps_the_centre_and_squash_keeps_everything():
    a = np.zeros((4, 12), np.uint8)
    a[:, 4:8] = 255  # a white centre square in a black wide image
    raw = encode(Image.fromarray(a, "L"))
    assert ImageConverter(4, 1, "crop")(raw, "w.png").min() > 200
    assert ImageConverter(4, 1, "squash")(raw, "w.png").min() < 50


@pytest.mark.parametrize("raw", [b"", b"not an image at all", encode(image("RGB", (32, 32)), "PNG")[:200],
                                 encode(image("RGB", (32, 32)), "JPEG")[:300]])
def test_corrupt_or_truncated_images_raise_one_line_naming_the_file(raw):
    with pytest.raises(TzooError) as e:
        ImageConverter(8)(raw, "broken.png")
    assert str(e.value).startswith("broken.png: not a readable image") and "skip_bad" in str(e.value)


@pytest.mark.parametrize("rate, subtype, channels", [(8000, "PCM_16", 1), (44100, "PCM_24", 2), (16000, "PCM_U8", 1),
                                                     (22050, "FLOAT", 2), (8000, "PCM_32", 1)])
def test_any_wav_becomes_mono_at_the_target_rate(tmp_path, rate, subtype, channels):
    x = tone(2, 0.2, rate=rate)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    raw = write_wav(tmp_path / "a.wav", data, rate=rate, subtype=subtype).read_bytes()
    tally = Conversions()
    wave = AudioConverter(16000)(raw, "a.wav", tally)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert abs(len(wave) - 0.2 * 16000) <= 2
    assert abs(wave.abs().max().item() - float(np.abs(x).max())) < 0.05
    expect = {**({"2-channel -> mono": 1} if channels > 1 else {}),
              **({f"resampled {rate} -> 16000 Hz": 1} if rate != 16000 else {})}
    assert dict(tally.counts) == expect


def test_truncated_wav_names_the_row(tmp_path):
    raw = write_wav(tmp_path / "a.wav", tone(1, 0.2)).read_bytes()
    with pytest.raises(TzooError, match="^clip7: truncated WAV"):
        AudioConverter(8000)(raw[:-100], "clip7")
