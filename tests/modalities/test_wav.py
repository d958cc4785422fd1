"""read_wav: sample widths, float, stereo, resampling, and a one-line error for every bad file."""
import struct
import wave

import numpy as np
import pytest
import torch

from tests.audio_fixtures import tone, write_wav
from tzoo.errors import TzooError
from tzoo.modalities.wav import fit_length, read_wav


@pytest.mark.parametrize("subtype, tol", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                          ("PCM_32", 1e-8), ("FLOAT", 0.0), ("DOUBLE", 0.0)])
def test_sample_widths_decode_to_the_same_signal(tmp_path, subtype, tol):
    x = tone(3, 0.25)
    got = read_wav(write_wav(tmp_path / "a.wav", x, subtype=subtype), 8000)
    assert got.dtype == torch.float32 and got.shape == (len(x),)
    assert torch.allclose(got, torch.from_numpy(x), atol=tol + 1e-7)


def test_stdlib_wave_file(tmp_path):
    x = tone(5, 0.2)
    pcm = np.round(x * 32767).astype("<i2")
    with wave.open(str(tmp_path / "w.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    assert torch.allclose(read_wav(tmp_path / "w.wav", 8000), torch.from_numpy(pcm / 32768.0).float(), atol=1e-6)


def test_stereo_is_folded_to_mono(tmp_path):
    left, right = tone(1, 0.2), tone(8, 0.2)
    got = read_wav(write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1)), 8000)
    assert got.shape == (len(left),)
    assert torch.allclose(got, torch.from_numpy((left + right) / 2), atol=1e-4)


@pytest.mark.parametrize("subtype", ["PCM_24", "FLOAT"])
def test_extensible_multichannel_files(tmp_path, subtype):
    x = np.stack([tone(d, 0.1) for d in (1, 4, 9)], axis=1)
    path = tmp_path / "x.wav"
    import soundfile as sf
    sf.write(str(path), x, 8000, subtype=subtype, format="WAVEX")
    assert torch.allclose(read_wav(path, 8000), torch.from_numpy(x.mean(axis=1)), atol=1e-5)


def test_other_rates_are_resampled(tmp_path):
    rate, f = 16000, 440.0
    t = np.arange(rate // 2) / rate  # 0.5 s
    got = read_wav(write_wav(tmp_path / "r.wav", (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32), rate), 8000)
    assert abs(got.numel() - 4000) <= 1
    spectrum = torch.fft.rfft(got).abs()
    assert abs(int(spectrum.argmax()) * 8000 / got.numel() - f) < 4  # same pitch after resampling
    assert 0.45 < float(got[500:-500].abs().max()) < 0.55


def _header(bits: int, fmt: int = 1, frames: int = 100) -> bytes:
    align = (bits + 7) // 8
    data = bytes([1, 2, 3]) * (frames * align // 3 + 1)
    data = data[: frames * align]
    chunk = struct.pack("<HHIIHH", fmt, 1, 8000, 8000 * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + chunk + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _bad_files(tmp_path):
    good = write_wav(tmp_path / "good.wav", tone(2, 0.3)).read_bytes()
    return {
        "empty": (b"", "empty"),
        "truncated": (good[: len(good) // 2], "truncated"),
        "header only": (good[:30], "truncated"),
        "not a wav": (b"ID3\x03\x00\x00" + b"\x00" * 200, "not a WAV"),
        "text": (b"hello, this is not audio\n" * 20, "not a WAV"),
        "12-bit": (_header(12), "12-bit PCM"),
        "40-bit": (_header(40), "40-bit PCM"),
        "a-law": (_header(8, fmt=6), "unsupported sample format"),
        "no samples": (_header(16, frames=0), "no audio samples"),
        "silent": (write_wav(tmp_path / "z.wav", np.zeros(2000, np.float32)).read_bytes(), "silent"),
    }


@pytest.mark.parametrize("case", ["empty", "truncated", "header only", "not a wav", "text", "12-bit", "40-bit",
                                  "a-law", "no samples", "silent"])
def test_bad_files_raise_one_line_naming_the_file(tmp_path, case):
    content, needle = _bad_files(tmp_path)[case]
    path = tmp_path / f"{case.replace(' ', '_')}.wav"
    path.write_bytes(content)
    with pytest.raises(TzooError) as e:
        read_wav(path, 8000)
    msg = str(e.value)
    assert str(path) in msg and needle in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(TzooError, match="cannot read"):
        read_wav(tmp_path / "nope.wav", 8000)


def test_long_clips_are_cropped_with_a_warning_or_refused(capsys):
    x = torch.ones(20000)
    assert fit_length(x, 30000, "crop", "a.wav", 8000) is x
    assert fit_length(x, 8000, "crop", "a.wav", 8000).shape == (8000,)
    assert "a.wav" in capsys.readouterr().err
    with pytest.raises(TzooError, match="a.wav: clip is 2.50 s, longer than the model's maximum of 1.00 s"):
        fit_length(x, 8000, "error", "a.wav", 8000)
