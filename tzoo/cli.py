"""Command line: `tzoo list | train | sample | eval | predict | collect`.

Importing this module imports no torch (nor accelerate, datasets, a recipe): `tzoo --help` and
`tzoo list` answer at once; each verb imports what it needs when it runs.
"""
from __future__ import annotations

import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Optional, Sequence

from .args import ArgumentParser
from .config import apply_overrides, describe, parse_override_args
from .errors import TzooError, is_out_of_memory
from .recipes import RECIPES, get_recipe, recipe_info

RESUMABLE = {"loop.max_steps", "loop.eval_every", "loop.save_every", "loop.log_every"}

USAGE = """tzoo list                                   recipes, one line each
tzoo train RECIPE [--out DIR] [--preset NAME] [--config FILE] [--section.key=value ...]
tzoo train --config RUN/config.json --out DIR   rerun a run exactly (its config names the recipe)
tzoo train RECIPE --help                    presets and every config key with its default and meaning
tzoo train --resume DIR [--loop.max_steps=N]
tzoo sample DIR [--prompt TEXT] [--max-new-tokens N] [--temperature T] [--top-k K] [--seed S] [--no-cache]
tzoo eval DIR [--section.key=value ...]     figures as JSON on the last line (other data: --data.path=FILE, --data.dir=DIR)
tzoo predict DIR FILE [FILE ...]            top classes for images / clips
tzoo push DIR REPO_ID [--private] [--with-state]   upload a run to the Hugging Face Hub (load: tzoo.load("hf://REPO_ID"))
tzoo collect ENV --out DATASET_ID [--policy P] [--episodes N] [--seed S]   gymnasium episodes into a local Minari dataset
tzoo VERB --help                            a verb's options;  tzoo --version
Multi-process: `accelerate launch -m tzoo train ...` or `torchrun --nproc_per_node N -m tzoo train ...`."""


def load(*args: Any, **kwargs: Any) -> Any:
    """tzoo.api.load, imported on use (it imports torch)."""
    from .api import load as api_load

    return api_load(*args, **kwargs)


def open_run(path: str) -> Any:
    """tzoo.api.open_run, imported on use (it imports torch)."""
    from .api import open_run as api_open_run

    return api_open_run(path)


def print_top_k(results: list[dict]) -> None:
    """tzoo.recipes.classify.print_top_k, imported on use (it imports torch)."""
    from .recipes.classify import print_top_k as show

    show(results)


def cmd_list(args: Sequence[str]) -> int:
    ArgumentParser(prog="tzoo list", description="The recipes (built in, registered and installed): "
                   "name, summary and presets (the first is the default).").parse_args(args)
    infos = [recipe_info(name) for name in RECIPES]
    width = max(len(i.name) for i in infos)
    for i in infos:
        print(f"{i.name:<{width}}  {i.summary} (presets: {', '.join(i.presets)})")
    return 0


def _train_help(recipe: Any) -> None:
    print(f"tzoo train {recipe.name} [--out DIR] [--preset {'|'.join(recipe.presets)}] [--config FILE] [--key=value ...]\n")
    print(recipe.summary + "\n\nconfig keys (defaults of the first preset):")
    for line in describe(recipe.default()):
        print("  " + line)


def _train_parser() -> ArgumentParser:
    p = ArgumentParser(prog="tzoo train", add_help=False, allow_abbrev=False,
                       usage="tzoo train RECIPE [--out DIR] [--preset NAME] [--config FILE] [--section.key=value ...]\n"
                             "       tzoo train --config RUN/config.json --out DIR\n"
                             "       tzoo train --resume DIR [--loop.max_steps=N ...]",
                       description="Train a recipe (see `tzoo list`) into a run directory, or resume one.",
                       epilog="`tzoo train RECIPE --help` lists the recipe's presets and every config key "
                              "with its default and description. Settings apply in order: preset, --config "
                              "file, command-line overrides.")
    p.add_argument("recipe", nargs="?", metavar="RECIPE", help="a recipe name (see `tzoo list`)")
    p.add_argument("--out", metavar="DIR", help="the run directory (default runs/RECIPE)")
    p.add_argument("--preset", metavar="NAME", help="a preset of the recipe (default: its first)")
    p.add_argument("--config", metavar="FILE", help="settings from a YAML or JSON file (sections or dotted keys, "
                   "the keys of --help; `recipe: NAME` may name the recipe); a run's config.json reruns it exactly")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (only --loop.* step counts may change)")
    p.add_argument("-h", "--help", action="store_true", help="this help; with RECIPE, the recipe's config keys")
    return p


def _recipe_for(ns: Any) -> tuple[Optional[str], dict[str, Any]]:
    """(the recipe name from the command line or the --config file, the file's settings)."""
    if not ns.config:
        return ns.recipe, {}
    from .config_file import read_config_file

    named, values = read_config_file(ns.config)
    if ns.recipe and named and ns.recipe != named:
        raise TzooError(f"{ns.config}: a config for recipe {named}, not {ns.recipe}; drop RECIPE to train {named}")
    return ns.recipe or named, values


def _with_file(recipe: Any, cfg: Any, values: dict[str, Any], path: str) -> Any:
    """`cfg` with a config file's settings (keys of older run directories dropped), errors naming the file."""
    obsolete = tuple(getattr(recipe, "obsolete", ()))
    values = {k: v for k, v in values.items() if not any(k == o or k.startswith(o + ".") for o in obsolete)}
    try:
        return apply_overrides(cfg, values, check=False)
    except TzooError as e:
        raise TzooError(f"{path}: {e}") from None


def cmd_train(args: Sequence[str]) -> int:
    p = _train_parser()
    ns, rest = p.parse_known_args(args)
    name, values = _recipe_for(ns)
    if ns.help and not name:
        p.print_help()
        return 0
    overrides = parse_override_args(rest)
    if ns.resume:
        if ns.recipe or ns.out or ns.preset or ns.config:
            raise TzooError("--resume DIR takes no recipe, --out, --preset or --config: they come from DIR/config.json")
        from .recipes.train import train

        recipe, cfg, run = open_run(ns.resume)
        fixed = sorted(set(overrides) - RESUMABLE)
        if fixed:
            raise TzooError(f"--{fixed[0]} cannot change on resume; only {', '.join(sorted(RESUMABLE))} can")
        cfg = apply_overrides(cfg, overrides)
        if overrides:
            run.save_config(recipe.name, cfg)
        metrics = train(recipe, cfg, run, resume=True)
    else:
        if not name:
            raise TzooError("tzoo train needs a recipe name (see `tzoo list`), a --config file that names one "
                            "(recipe: NAME), or --resume DIR")
        recipe = get_recipe(name)
        if ns.help:
            _train_help(recipe)
            return 0
        preset = ns.preset or next(iter(recipe.presets))
        if preset not in recipe.presets:
            raise TzooError(f"unknown preset {preset!r} for {recipe.name}; presets: {', '.join(recipe.presets)}")
        cfg = recipe.presets[preset]()
        if ns.config:
            cfg = _with_file(recipe, cfg, values, ns.config)
        cfg = apply_overrides(cfg, overrides)  # the command line wins over the file
        from .recipes.rundir import RunDir
        from .recipes.train import train

        run = RunDir(ns.out or f"runs/{recipe.name}")
        metrics = train(recipe, cfg, run)
    if metrics is not None:  # main process only
        print(json.dumps(metrics))
    return 0


def cmd_sample(args: Sequence[str]) -> int:
    p = ArgumentParser(prog="tzoo sample", description="Sample text from a trained language model.")
    p.add_argument("run", metavar="DIR")
    p.add_argument("--prompt")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute the whole context every step")
    p.add_argument("--task", help=TASK_HELP)
    ns = p.parse_args(args)
    trained = _load_for(ns.run, "sample", ns.task)
    print(trained.generate(ns.prompt, max_new_tokens=ns.max_new_tokens, temperature=ns.temperature,
                           top_k=ns.top_k, seed=ns.seed, use_cache=not ns.no_cache))
    return 0


def _eval_parser() -> ArgumentParser:
    p = ArgumentParser(prog="tzoo eval", usage="tzoo eval DIR [--task=NAME] [--section.key=value ...]",
                       description="Score a trained run; the figures are printed as JSON on the last line.",
                       epilog="Overrides (--section.key=value) change the evaluation, e.g. other data: "
                              "--data.path=FILE or --data.dir=DIR.")
    p.add_argument("run", metavar="DIR", help="a run directory")
    p.add_argument("--task", metavar="NAME", help=TASK_HELP)
    return p


def cmd_eval(args: Sequence[str]) -> int:
    if "-h" in args or "--help" in args:
        _eval_parser().print_help()
        return 0
    if not args or args[0].startswith("-"):
        _eval_parser().error("give the run directory first: tzoo eval DIR [--section.key=value ...]")
    overrides = parse_override_args(args[1:])
    task = overrides.pop("task", None)
    print(json.dumps(_load_for(args[0], "eval", task).evaluate(overrides)))
    return 0


def cmd_predict(args: Sequence[str]) -> int:
    p = ArgumentParser(prog="tzoo predict", description="Predict with a trained run: classes of "
                                "image / audio files, or an answer from --image/--audio/--prompt (av-digits). An image "
                                "of another size than the model's is resized, with a note on stderr (--no-resize refuses it).")
    p.add_argument("run", metavar="DIR")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--image", help="an image file (recipes that mix inputs)")
    p.add_argument("--audio", help="a WAV file (recipes that mix inputs)")
    p.add_argument("--prompt", help="a text question (recipes that mix inputs)")
    p.add_argument("--top-k", type=int, help="how many classes to list per file (classifiers)")
    p.add_argument("--no-resize", dest="resize", action="store_false", default=None,
                   help="refuse an image whose size is not the model's (by default it is resized, with a note)")
    p.add_argument("--task", help=TASK_HELP)
    ns = p.parse_intermixed_args(args)  # `predict DIR --task NAME FILE` as well as `predict DIR FILE --task NAME`
    inputs = {k: v for k, v in (("image", ns.image), ("audio", ns.audio), ("prompt", ns.prompt)) if v is not None}
    if not ns.files and not inputs:
        raise TzooError("usage: tzoo predict DIR FILE [FILE ...]  (or --image/--audio/--prompt)")
    options = {**inputs, **{k: v for k, v in (("top_k", ns.top_k), ("resize", ns.resize)) if v is not None}}
    results = _load_for(ns.run, "predict", ns.task).predict(ns.files, **options)
    if results and "answer" in results[0]:
        for r in results:
            print(r["answer"])
    else:
        print_top_k(results)
    return 0


TASK_HELP = "the task to use, on a multitask run (`tzoo eval` takes --task=NAME too)"


def _load_for(path: str, verb: str, task: Optional[str] = None):
    """The run at `path` (its `task`, on a multitask run), after checking (before loading weights)
    that its recipe declares `verb` (else a one-line error suggesting the verbs it has)."""
    recipe, cfg, run = open_run(path)
    if task is not None and getattr(recipe, "select", None) is not None and task in cfg.tasks.names:
        recipe = get_recipe(task)
    if verb not in recipe.verbs:
        use = " or ".join(f"tzoo {v}" for v in recipe.verbs) or "nothing: it has no verbs"
        raise TzooError(f"{run.path}: recipe {recipe.name} has no `{verb}`; use {use}")
    return load(path, task)


def cmd_push(args: Sequence[str]) -> int:
    p = ArgumentParser(prog="tzoo push", description="Upload a finished run directory to a Hugging Face Hub model "
                       "repository (created if needed); its README.md model card is rewritten to name the "
                       "repository. Load it back with tzoo.load(\"hf://REPO_ID\").")
    p.add_argument("run", metavar="DIR", help="a finished run directory")
    p.add_argument("repo_id", metavar="REPO_ID", help="OWNER/NAME on the Hub")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--with-state", action="store_true", help="upload state/ too (checkpoints to resume from)")
    ns = p.parse_args(args)
    from .hub import push

    print(push(ns.run, ns.repo_id, private=ns.private, with_state=ns.with_state))
    return 0


def cmd_collect(args: Sequence[str]) -> int:
    from .control.collect import cmd_collect as collect

    return collect(list(args))


COMMANDS = {"list": cmd_list, "collect": cmd_collect, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "predict": cmd_predict,
            "push": cmd_push}


def tzoo_version() -> str:
    """The installed distribution's version (the package's own when run from a source tree)."""
    try:
        return version("tzoo")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-V"], ["--version"]):
        print(f"tzoo {tzoo_version()}")
        return 0
    if argv[:1] == ["help"] and len(argv) > 1:  # `tzoo help VERB` = `tzoo VERB --help`
        argv = [argv[1], "--help"]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    try:
        if command is None:
            raise TzooError(f"unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)} (see `tzoo --help`)")
        return command(argv[1:])
    except SystemExit as e:  # argparse after printing --help
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    except TzooError as e:
        print(f"tzoo: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("tzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tzoo ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        print(f"tzoo: error: out of memory ({str(e).splitlines()[0][:120]}); use smaller sizes", file=sys.stderr)
        return 2
