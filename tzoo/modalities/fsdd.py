"""The Free Spoken Digit Dataset: find the folder, parse file names, split, decode every clip once.

Files are `{digit}_{speaker}_{index}.wav` (8 kHz mono). Splits: the official one (index 0-4 test,
the rest train) or one speaker held out for testing. A folder for `tzoo eval` only needs names
that start with the digit, `{digit}_*.wav`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from ..errors import TzooError
from ..progress import track
from .sources import DATA_ENV, local_copy
from .wav import warn

FSDD = "fsdd/recordings"
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"
OFFICIAL_TEST_INDICES = range(5)
NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
LOOSE = re.compile(r"^(?P<digit>\d)_.*\.wav$", re.IGNORECASE)


@dataclass(frozen=True)
class Recording:
    """One file: its path and what its name says (speaker and index are empty / -1 for loose names)."""

    path: Path
    digit: int
    speaker: str = ""
    index: int = -1


def find_recordings(explicit: Optional[str], flag: str = "--data.dir") -> Path:
    """`flag` (the folder given), else $TZOO_DATA/fsdd/recordings, else a one-line error saying what to pass."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise TzooError(f"{path}: no such folder; pass {flag}=FOLDER holding {{digit}}_*.wav files")
        return path
    found = local_copy(FSDD)
    if found is None or not found.is_dir():
        raise TzooError(f"the Free Spoken Digit Dataset is not in ${DATA_ENV}/{FSDD}; clone {FSDD_URL} and "
                        f"pass {flag}=CLONE/recordings, or set {DATA_ENV} to a folder holding {FSDD}")
    return found


def scan(folder: Path, strict: bool = True) -> list[Recording]:
    """Every `*.wav` in `folder` whose name parses, sorted by name; other names are skipped with a count.

    strict: names must be `{digit}_{speaker}_{index}.wav` (training); otherwise `{digit}_*.wav` (eval).
    """
    pattern = NAME if strict else LOOSE
    found, ignored = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".wav":
            continue
        m = pattern.match(path.name)
        if m is None:
            ignored.append(path.name)
            continue
        extra = {"speaker": m["speaker"], "index": int(m["index"])} if strict else {}
        found.append(Recording(path, int(m["digit"]), **extra))
    if ignored:
        form = "{digit}_{speaker}_{index}.wav" if strict else "{digit}_*.wav"
        warn(f"{folder}: skipped {len(ignored)} WAV files not named {form} (first: {ignored[0]})")
    if not found:
        form = "{digit}_{speaker}_{index}.wav" if strict else "{digit}_*.wav"
        raise TzooError(f"{folder}: no WAV files named {form}; pass --data.dir=FOLDER holding such files")
    return found


def split(recordings: Sequence[Recording], holdout_speaker: Optional[str],
          where: Path) -> tuple[list[Recording], list[Recording]]:
    """(train, test): the official split (index 0-4 test) or one speaker held out for testing."""
    if holdout_speaker is None:
        is_test = [r.index in OFFICIAL_TEST_INDICES for r in recordings]
    else:
        speakers = sorted({r.speaker for r in recordings})
        if holdout_speaker not in speakers:
            raise TzooError(f"--data.holdout_speaker={holdout_speaker}: no such speaker in {where}; "
                            f"speakers: {', '.join(speakers)}")
        is_test = [r.speaker == holdout_speaker for r in recordings]
    train = [r for r, t in zip(recordings, is_test) if not t]
    test = [r for r, t in zip(recordings, is_test) if t]
    for name, part in (("training", train), ("test", test)):
        if not part:
            raise TzooError(f"{where}: the {name} split is empty; the folder needs files with "
                            "indices 0-4 (test) and 5 or more (train), or another --data.holdout_speaker")
    return train, test


def split_validation(train: Sequence[Recording], indices: Sequence[int],
                     where: Path) -> tuple[list[Recording], list[Recording]]:
    """(train, validation): recordings of the training side whose index lies in [first, last] validate."""
    first, last = indices
    is_val = [first <= r.index <= last for r in train]
    kept = [r for r, v in zip(train, is_val) if not v]
    val = [r for r, v in zip(train, is_val) if v]
    if not kept or not val:
        name = "training" if not kept else "validation"
        raise TzooError(f"{where}: the {name} split is empty; validation takes recording indices {first}-{last} "
                        "of the training side, so the folder needs indices inside and outside that range "
                        "(or set --data.val_indices=FIRST,LAST)")
    return kept, val


@dataclass
class Clips:
    """Decoded clips of one split: waveforms (each (T_i,)) and digit labels (N,)."""

    waves: list[Tensor]
    labels: Tensor
    names: list[str]
    skipped: int = 0  # unusable files left out

    def __len__(self) -> int:
        return len(self.waves)


def decode_all(recordings: Sequence[Recording], decode: Callable[[Path], Tensor], what: str,
               max_bad_fraction: float) -> Clips:
    """Decode every recording once; bad files are reported and skipped with a count.

    Fails with one line when nothing is left or more than `max_bad_fraction` of the files are bad.
    """
    waves, labels, names, bad = [], [], [], []
    for r in track(recordings, len(recordings), f"decode {what}", "file"):
        try:
            waves.append(decode(r.path))
        except TzooError as e:
            bad.append(str(e))
            continue
        labels.append(r.digit)
        names.append(r.path.name)
    if bad:
        warn(f"skipped {len(bad)} of {len(recordings)} {what} files that cannot be used (first: {bad[0]})")
    if not waves or len(bad) > max_bad_fraction * len(recordings):
        raise TzooError(f"{len(bad)} of {len(recordings)} {what} files cannot be used, more than "
                        f"--data.max_bad_fraction={max_bad_fraction} (first: {bad[0]}); fix or remove them")
    return Clips(waves, torch.tensor(labels, dtype=torch.long), names, len(bad))
