"""tzoo.progress: plain progress lines with an ETA off a terminal, silence for short work and other processes."""
import re

from tzoo.progress import Ticker, track


def test_plain_lines_carry_count_rate_and_eta(capsys):
    items = list(track(range(4), 4, "decode train", "image", enabled=True, every_s=0.0))
    assert items == [0, 1, 2, 3]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5  # one per update (every_s=0) and a closing one
    assert lines[1].startswith("decode train: 2/4 image (50%) | ")
    assert re.search(r"\| eta \d+:\d\d:\d\d$", lines[1]), lines[1]
    assert lines[-1].startswith("decode train: 4/4 image (100%)") and lines[-1].endswith("eta 0:00:00")


def test_short_work_and_other_processes_print_nothing(capsys, monkeypatch):
    list(track(range(50), 50, "evaluate", "batch"))  # ends well within the default interval
    with Ticker(3, "rollouts", "episode", enabled=False, every_s=0.0) as ticker:
        ticker.update(3)
    monkeypatch.setenv("RANK", "1")
    list(track(range(3), 3, "collect", "episode", every_s=0.0))
    assert capsys.readouterr().err == ""


def test_a_note_follows_the_line(capsys):
    with Ticker(2, "collect x", "episode", enabled=True, every_s=0.0) as ticker:
        ticker.update(1, "mean return 9.5")
    assert capsys.readouterr().err.splitlines()[0].endswith("| mean return 9.5")
