"""README.md and docs/**/*.md stay true to the code: every `tzoo train ...` command names a recipe of
the registry and config keys of that recipe (values type-checked where they are not placeholders),
and every relative link leads to an existing file (and heading, where it names one)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tzoo.config import apply_overrides, flat_fields
from tzoo.errors import TzooError
from tzoo.recipes import RECIPES, get_recipe

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# recipes other branches are landing; checked in full once the registry has them
PENDING = {"image-classify", "audio-classify", "qa"}
PLACEHOLDER = re.compile(r"^([A-Z][A-Z0-9_]*|.*\.\.\..*|<.*>)$")  # DIR, K, NAMES, ..., <url>
TRAIN_FLAGS = {"--out", "--preset", "--config", "--resume"}  # flags of `tzoo train` that take a value


def commands(text: str) -> list[str]:
    """Every shell command of a page: lines of fenced blocks (backslash continuations joined) and
    inline code spans (which may wrap over lines)."""
    out: list[str] = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        out += re.sub(r"\\\n\s*", " ", block).splitlines()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    out += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]
    return out


def train_commands(text: str) -> list[list[str]]:
    """The words after each `tzoo train` of a page, up to the end of the command."""
    found = []
    for line in commands(text):
        for m in re.finditer(r"\btzoo train\b", line):
            rest = re.split(r"\s(?:&&|\|\||;|\||#)\s|\s#|\s{3,}", line[m.end():])[0]  # 3+ spaces: a description
            try:
                words = shlex.split(rest)
            except ValueError:
                words = rest.split()
            found.append([w.strip("[]") for w in words if w.strip("[]")])
    return found


def parse(words: list[str]) -> tuple[str | None, str | None, dict[str, str]]:
    """(recipe, preset, {key: value}) of a `tzoo train` command's words."""
    recipe = preset = None
    overrides: dict[str, str] = {}
    i = 0
    while i < len(words):
        w = words[i]
        if w in TRAIN_FLAGS:
            preset = words[i + 1] if w == "--preset" and i + 1 < len(words) else preset
            i += 2
            continue
        if w.startswith("--") and "=" in w:
            key, _, value = w[2:].partition("=")
            overrides[key] = value
        elif w.startswith("--") and w not in ("--help", "-h"):
            raise AssertionError(f"{w}: write overrides as --key=value")
        elif not w.startswith("-") and recipe is None and not overrides:
            recipe = w
        i += 1
    return recipe, preset, overrides


def check_command(words: list[str]) -> str | None:
    """None if the command is right (or names a pending recipe not merged yet), else why not."""
    recipe_name, preset, overrides = parse(words)
    if recipe_name is None or PLACEHOLDER.match(recipe_name):
        return None
    if recipe_name not in RECIPES:
        return None if recipe_name in PENDING else f"no recipe {recipe_name!r} (tzoo list: {', '.join(RECIPES)})"
    recipe = get_recipe(recipe_name)
    if preset is not None and not PLACEHOLDER.match(preset) and preset not in recipe.presets:
        return f"{recipe_name} has no preset {preset!r}"
    cfg = recipe.presets[preset if preset in recipe.presets else next(iter(recipe.presets))]()
    fields = flat_fields(cfg)
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        return f"{recipe_name} has no config key --{unknown[0]}"
    concrete = {k: v for k, v in overrides.items() if not PLACEHOLDER.match(v)}
    try:
        apply_overrides(cfg, concrete)
    except TzooError as e:
        return str(e)
    return None


def page_commands() -> list[tuple[str, list[str]]]:
    return [(str(p.relative_to(ROOT)), words) for p in PAGES
            for words in train_commands(p.read_text(encoding="utf-8"))]


def test_pages_have_train_commands():
    names = {w[0] for _, w in page_commands() if w}
    assert {"char-lm", "vit-cifar10", "audio-fsdd", "dt", "av-digits", "multitask"} <= names


@pytest.mark.parametrize("page,words", page_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_train_command_names_real_recipe_and_keys(page, words):
    problem = check_command(words)
    assert problem is None, f"{page}: `tzoo train {' '.join(words)}`: {problem}"


def test_checker_catches_wrong_recipe_key_and_value():
    assert check_command(["char-lm", "--loop.max_steps=5"]) is None
    assert check_command(["dt", "--data.dataset=DIR", "--task.kind=bc"]) is None
    assert "no recipe" in check_command(["char-llm"])
    assert "no config key --loop.max_step" in check_command(["char-lm", "--loop.max_step=5"])
    assert check_command(["char-lm", "--loop.max_steps=many"]) is not None
    assert "no preset" in check_command(["vit-cifar10", "--preset", "tpu"])
    assert check_command(["image-classify", "--data.dataset=DIR"]) is None or "image-classify" in RECIPES


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.*)$", text, re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


def broken_links(page: Path) -> list[str]:
    bad = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(page):
    assert links(page) or page.name != "README.md"
    assert broken_links(page) == []


def test_link_checker_catches_a_missing_file_and_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\n[ok](a.md#top) [gone](b.md) [no](a.md#nowhere) [web](https://x.org)\n")
    assert broken_links(tmp_path / "a.md") == ["b.md: no such file", "a.md#nowhere: no heading #nowhere in a.md"]
