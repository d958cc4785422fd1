"""The model card: a run directory's README.md in the Hugging Face model-card format.

Written from the run's own files (config.json, metrics.json, the plots), so the folder can be
uploaded to the Hub as it is, and rewritten by `tzoo push` to name the repository it goes to.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Optional

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..errors import TzooError
from ..storage import read_json, write_text
from .rundir import CONFIG, METRICS, RunDir

CARD = "README.md"
HUB_PLACEHOLDER = "OWNER/NAME"
SOURCE_KEYS = ("path", "dir", "hub_id", "dataset")  # config keys that say where the data came from


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _recipe(name: str) -> Any:
    """The registered recipe, or None (a run of parts built in Python, or a recipe not installed)."""
    from . import RECIPES, get_recipe

    return get_recipe(name) if name in RECIPES else None


def _is_source(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last in SOURCE_KEYS or last.endswith("_dir")


def data_sources(config: dict) -> dict[str, Any]:
    """The config keys that name the data (a file, a folder, a dataset id) and are set."""
    return {k: v for k, v in _flat(config).items() if _is_source(k) and v not in (None, "")}


def hub_datasets(config: dict) -> list[str]:
    """Hugging Face dataset ids the run read: each `*.hub_id` unless a local folder for it is set
    (`dir`, or `<name>_dir` where <name> is in the id, e.g. mnist_dir for ylecun/mnist)."""
    flat = _flat(config)
    out = []
    for key, value in flat.items():
        if not key.endswith("hub_id") or not isinstance(value, str) or "/" not in value:
            continue
        prefix = key[: -len("hub_id")]
        local = [k for k, v in flat.items() if k.startswith(prefix) and v is not None and "." not in k[len(prefix):]
                 and (k[len(prefix):] == "dir" or (k.endswith("_dir") and k[len(prefix):-4] in value.lower()))]
        if not local and value not in out:
            out.append(value)
    return out


def used_config(config: dict) -> dict:
    """The part of a config the run used: for a run of several tasks, only its tasks' sections
    (a multitask config holds every possible member's section)."""
    members = (config.get("tasks") or {}).get("names") or ()
    if not members:
        return config
    return {m.replace("-", "_"): config.get(m.replace("-", "_")) or {} for m in members}


def headlines(recipe: Any, config: dict) -> list[tuple[str, bool]]:
    """(metrics.json key, higher is better) of the figures that sum the run up: the recipe's
    headline and, for a run of several tasks, each task's own headline (`task/metric`)."""
    out = [tuple(getattr(recipe, "headline", ("val_loss", False)))]
    for name in (config.get("tasks") or {}).get("names") or ():
        member = _recipe(name)
        if member is not None:
            metric, higher = member.headline
            out.append((f"{name}/{metric}", higher))
    return out


def modalities(recipe: Any, config: dict) -> list[str]:
    """What the model reads: the recipe's `modalities`, or its tasks' for a run of several tasks."""
    out = list(getattr(recipe, "modalities", ()))
    for name in (config.get("tasks") or {}).get("names") or ():
        member = _recipe(name)
        out += [m for m in getattr(member, "modalities", ()) if m not in out]
    return out


def rerun_command(recipe: Any, name: str, config: dict) -> str:
    """`tzoo train` arguments that rebuild `config`: the closest preset plus the keys that differ."""
    from ..config import to_dict

    if recipe is None or not getattr(recipe, "presets", None):
        return ""
    mine = _flat(config)
    best: Optional[tuple[int, str, list[str]]] = None
    for preset, make in recipe.presets.items():
        base = _flat(json.loads(json.dumps(to_dict(make()))))  # tuples as config.json has them: lists
        diff = [f"--{k}={_show(v)}" for k, v in mine.items() if k in base and base[k] != v]
        if best is None or len(diff) < best[0]:
            best = (len(diff), preset, diff)
    assert best is not None
    _, preset, diff = best
    words = ["tzoo", "train", name] + ([] if preset == next(iter(recipe.presets)) else ["--preset", preset])
    return " ".join(words + [_quote(a) for a in diff])


def _show(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return "none" if v is None else str(v)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\"'\"'") + "'"


def _split(key: str) -> str:
    last = key.rsplit("/", 1)[-1]
    return "test" if last.startswith("test_") else "validation" if last.startswith("val_") else "evaluation"


def _usage(recipe: Any, source: str, tasks: tuple[str, ...] = ()) -> str:
    verbs = tuple(getattr(recipe, "verbs", ()))
    if recipe is None or getattr(recipe, "name", "") == "custom":
        return ("This run was trained from parts built in Python (`tzoo.fit`): build the same model and load its "
                "weights with `tzoo.load_into(model, FOLDER)`.")
    pick = f', task="{tasks[0]}"' if tasks else ""
    lines = ["```python", "import tzoo", "", f'model = tzoo.load("{source}"{pick})  # or the path of a local copy']
    if tasks:
        lines.append(f"# task: one of {', '.join(tasks)} (the verbs below are that task's)")
    if "sample" in verbs:
        lines.append('print(model.generate("ROMEO:", max_new_tokens=200))')
    if "predict" in verbs:
        lines.append('print(model.predict(["input.png"]))  # files of the kind it was trained on')
    if "eval" in verbs:
        lines.append("print(model.evaluate())")
    lines += ["```", "", "From the command line: " + ", ".join(f"`tzoo {v} {source}`" for v in verbs) + "."]
    return "\n".join(lines)


def _source_name(key: str, value: Any) -> str:
    """A data source as the card names it: a file or folder by its name (not the trainer's path)."""
    return Path(str(value)).name if key.rsplit(".", 1)[-1] in ("path", "dir") or key.endswith("_dir") else str(value)


def _figure(metrics: dict, key: str) -> bool:
    value = metrics.get(key)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _result(recipe: Any, name: str, config: dict, key: str, value: float) -> EvalResult:
    """One model-index entry; `task/metric` (a run of several tasks) is reported under that task's
    own Hugging Face task type and data."""
    if "/" in key:
        name = key.split("/", 1)[0]
        recipe, config = _recipe(name), config.get(name.replace("-", "_")) or {}
    members = (config.get("tasks") or {}).get("names") or ()
    datasets = hub_datasets(config)
    local = next(iter(data_sources(config).items()), None)
    if members:  # the joint figure of several tasks: their data together (their sections: used_config)
        dataset, kind = "+".join(members), "mixed"
    else:
        dataset = datasets[0] if datasets else _source_name(*local) if local is not None else f"{name} data"
        kind = dataset if datasets else "local"
    return EvalResult(task_type=getattr(recipe, "hub_task", "other"), dataset_type=kind,
                      dataset_name=dataset, dataset_split=_split(key), metric_type=key, metric_name=key,
                      metric_value=value)


def render(run: RunDir, repo_id: Optional[str] = None) -> ModelCard:
    """The model card of a finished run (its config.json and metrics.json)."""
    saved = read_json(run / CONFIG, "run config")
    name, config = saved.get("recipe", "custom"), saved.get("config") or {}
    if not (run / METRICS).is_file():
        raise TzooError(f"{run / METRICS}: missing; a model card needs a finished run (`tzoo train` writes it at the end)")
    metrics = read_json(run / METRICS, "run metrics")
    recipe = _recipe(name)
    datasets = hub_datasets(used_config(config))
    results = [_result(recipe, name, config, key, metrics[key])
               for key, _ in headlines(recipe, config) if _figure(metrics, key)]
    model_name = repo_id.split("/")[-1] if repo_id else run.path.resolve().name
    data = ModelCardData(library_name="tzoo", tags=["tzoo", name, *modalities(recipe, config)],
                         datasets=datasets or None, model_name=model_name, eval_results=results or None)
    return ModelCard.from_template(data, template_str=_TEMPLATE, **_body(run, recipe, name, config, metrics, repo_id))


def _body(run: RunDir, recipe: Any, name: str, config: dict, metrics: dict, repo_id: Optional[str]) -> dict[str, str]:
    sources = data_sources(used_config(config))
    trained_on = "; ".join(f"`{k}` = `{v}`" for k, v in sources.items()) or "the recipe's default data"
    figures = [f"| `{key}` | {metrics[key]:.4g} | {'higher' if higher else 'lower'} is better |"
               for key, higher in headlines(recipe, config) if _figure(metrics, key)]
    pngs = sorted(p.relative_to(run.path).as_posix() for p in run.path.rglob("*.png") if "state" not in p.parts)
    return {
        "title": repo_id or run.path.resolve().name,
        "summary": getattr(recipe, "summary", "") or f"a `{name}` run",
        "recipe": name,
        "trained_on": trained_on,
        "steps": str(metrics.get("step", "?")),
        "params": f"{metrics['params']:,}" if isinstance(metrics.get("params"), int) else "?",
        "figures": "\n".join(["| metric | value | |", "|---|---|---|", *figures]) if figures else "(none recorded)",
        "plots": "\n".join(f"![{Path(p).stem}]({p})" for p in pngs) or "(none)",
        "command": rerun_command(recipe, name, config),
        "usage": _usage(recipe, f"hf://{repo_id or HUB_PLACEHOLDER}", tuple((config.get("tasks") or {}).get("names") or ())),
    }


_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A tzoo model: recipe `{{ recipe }}`, {{ summary }}.
{{ params }} parameters, {{ steps }} optimizer steps.

## Training data

{{ trained_on }}

## Results

{{ figures }}

All final figures are in `metrics.json`; one line per evaluation in `log.jsonl`.

{{ plots }}

## Train it again

{% if command %}The resolved configuration is in `config.json`; either command rebuilds it exactly:

```bash
tzoo train --config config.json --out runs/again
{{ command }} --out runs/again
```
{% else %}The loop and optimizer settings are in `config.json`; the model and data were built in Python
(`tzoo.fit`), so rerun that code.
{% endif %}
## Use it

{{ usage }}
"""


def write_card(run: RunDir, repo_id: Optional[str] = None) -> Path:
    """Write (or rewrite) the run's README.md; `repo_id` names the Hub repository in it."""
    card = render(run, repo_id)
    return write_text(run / CARD, str(card) + "\n")


__all__ = ["CARD", "data_sources", "headlines", "hub_datasets", "render", "rerun_command", "used_config", "write_card"]
