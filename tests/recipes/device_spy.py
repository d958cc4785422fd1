"""Where a verb's batches go: the devices of every tensor the model's tokenizers receive."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch


class Reached(Exception):
    """Raised by the spy at the first tokenizer call: the verb got as far as the model."""


def tensors(value: Any) -> Iterator[torch.Tensor]:
    if torch.is_tensor(value):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from tensors(v)


@contextmanager
def tokenizer_inputs(model: torch.nn.Module) -> Iterator[set]:
    """The set of devices of the tensors the first tokenizer call receives; that call raises `Reached`."""
    seen: set = set()

    def hook(module, args, kwargs):
        seen.update(t.device for t in tensors((args, kwargs)))
        raise Reached

    handles = [tok.register_forward_pre_hook(hook, with_kwargs=True) for tok in model.tokenizers.values()]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def assert_runs_on_the_model_device(trained, verb: str, *args: Any, **kwargs: Any) -> None:
    """`trained` (loaded with device="meta": a device that is not the CPU, with no data) runs `verb`
    with its batch on the model's device: the model's tokenizers receive meta tensors only."""
    assert trained.device == torch.device("meta")
    with tokenizer_inputs(trained.model) as seen:
        try:
            getattr(trained, verb)(*args, **kwargs)
        except Reached:
            pass
        else:
            raise AssertionError(f"{verb} never reached the model")
    assert seen == {torch.device("meta")}, (verb, seen)
