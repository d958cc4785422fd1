"""The suite's CPU pin (conftest `on_the_cpu`): exact-equality tests must not train on a GPU."""
import os
import subprocess
import sys

import pytest

from tzoo.recipes.settings import LoopConfig
from tzoo.recipes.train import make_accelerator


def test_training_is_pinned_to_the_cpu():
    acc = make_accelerator(LoopConfig())
    # `_cpu`: the CPU was asked for, so a GPU, where there is one, is not taken
    assert acc.device.type == "cpu" and acc.state._cpu


def test_subprocesses_see_no_gpu():
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and os.environ["ACCELERATE_USE_CPU"] == "1"
    code = "import os; print(repr(os.environ['CUDA_VISIBLE_DEVICES']), os.environ['ACCELERATE_USE_CPU'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["''", "1"]


@pytest.fixture(scope="module")
def module_accelerator():
    return make_accelerator(LoopConfig()).state._cpu


def test_module_scoped_fixtures_are_pinned_too(module_accelerator):
    assert module_accelerator
