"""The Hugging Face Hub: upload a run directory (`tzoo push`) and open `hf://owner/name` runs.

A run directory is already a model repository: config.json, model.safetensors, metrics.json,
the plots and README.md (its model card). Training state (state/) stays home unless asked for.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from .errors import TzooError

SCHEME = "hf://"
REPO_RE = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
STATE_PATTERNS = ["state/*", "*/state/*"]  # fnmatch: * spans folders


def parse_hub_path(path: str) -> tuple[str, Optional[str]]:
    """`hf://owner/name[@revision]` -> (repo id, revision), or a one-line error."""
    spec = path[len(SCHEME):].strip("/")
    repo_id, _, revision = spec.partition("@")
    if not REPO_RE.fullmatch(repo_id):
        raise TzooError(f"{path}: not a Hub model; write hf://OWNER/NAME (optionally @REVISION)")
    return repo_id, revision or None


def resolve_run(path: str | Path) -> Path:
    """A local run folder for `path`: itself, or for `hf://owner/name[@rev]` the Hub repository
    downloaded with huggingface_hub's snapshot_download (offline, HF_HUB_OFFLINE=1: from its cache)."""
    if not str(path).startswith(SCHEME):
        return Path(path)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                       RepositoryNotFoundError)

    from . import __version__

    repo_id, revision = parse_hub_path(str(path))
    try:
        return Path(snapshot_download(repo_id, revision=revision, library_name="tzoo", library_version=__version__))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise TzooError(f"{path}: not in the local Hugging Face cache and the Hub cannot be reached (offline?); "
                        "download it once online, or unset HF_HUB_OFFLINE") from None
    except RepositoryNotFoundError:
        raise TzooError(f"{path}: no such model on the Hub (or it is private: log in with `hf auth login`)") from None
    except HfHubHTTPError as e:
        raise TzooError(f"{path}: the Hub refused the download ({str(e).splitlines()[0]})") from None


def push(folder: str | Path, repo_id: str, private: bool = False, with_state: bool = False) -> str:
    """Upload a finished run directory to the Hub model repository `repo_id` (created if needed);
    its model card is first rewritten to name `repo_id`. Returns the repository's URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from .recipes.card import write_card
    from .recipes.rundir import RunDir, WEIGHTS

    run = RunDir.open(folder)
    if not REPO_RE.fullmatch(repo_id):
        raise TzooError(f"{repo_id!r}: a Hub repository id looks like OWNER/NAME")
    if not (run / WEIGHTS).is_file():
        raise TzooError(f"{run / WEIGHTS}: missing; push a finished run (its training writes the weights at the end)")
    write_card(run, repo_id)
    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=str(run.path), repo_type="model",
                          commit_message=f"tzoo push {run.path.name}",
                          ignore_patterns=None if with_state else STATE_PATTERNS)
    except (HfHubHTTPError, OSError) as e:  # no token, no rights, no network
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise TzooError(f"push to {repo_id} failed ({first}); log in with `hf auth login` or set HF_TOKEN") from None
    return str(url)


__all__ = ["parse_hub_path", "push", "resolve_run"]
