"""build_model: two tasks naming one tokenizer share it only when they build equal ones."""
import pytest
import torch

from tzoo.backbone import BackboneConfig
from tzoo.errors import TzooError
from tzoo.recipes.base import TaskHead, build_model
from tzoo.tasks import LanguageModelTask
from tzoo.tokenizers import TextTokenizer
from tzoo.tokenizers.types import ANSWER, TEXT

SHAPE = BackboneConfig(dim=16, depth=1, heads=2)


def lm(vocab: int, type_id: int = TEXT, tied: bool = False) -> TaskHead:
    """A tiny language-model task reading tokenizer "text"."""
    def make(dim: int):
        text = TextTokenizer(vocab, dim, type_id)
        return {"text": text}, LanguageModelTask(dim, vocab, tied=text.embed if tied else None)
    return TaskHead(8, make)


def test_equal_tokenizers_are_shared_and_both_tasks_read_the_one_kept():
    model = build_model(SHAPE, {"a": lm(10), "b": lm(10)})
    assert list(model.tokenizers) == ["text"]
    ids = torch.randint(0, 10, (2, 8))
    for task in ("a", "b"):
        model.zero_grad(set_to_none=True)
        model({"text": ids, "targets": ids}, task=task).loss.backward()
        assert model.tokenizers["text"].embed.weight.grad is not None, task


@pytest.mark.parametrize("second, needle", [
    (lm(12), r"task 'b' builds one \(TextTokenizer\) unlike"),       # another vocabulary: other state shapes
    (lm(10, type_id=ANSWER), r"task 'b' builds one \(TextTokenizer\) unlike"),  # another type id
])
def test_unequal_tokenizers_under_one_name_are_refused(second, needle):
    with pytest.raises(TzooError, match=needle) as e:
        build_model(SHAPE, {"a": lm(10), "b": second})
    assert "\n" not in str(e.value) and "'text'" in str(e.value)


def test_another_class_under_the_same_name_is_refused():
    from tzoo.tasks import ClassificationTask
    from tzoo.tokenizers.image import ImageTokenizer

    def image(dim: int):
        return {"text": ImageTokenizer(4, dim, channels=1)}, ClassificationTask(dim, 3, inputs=("text",))
    with pytest.raises(TzooError, match=r"builds one \(ImageTokenizer\) unlike the one an earlier task built under that name \(TextTokenizer\)"):
        build_model(SHAPE, {"a": lm(10), "b": TaskHead(8, image)})


def test_a_head_tied_to_the_dropped_copy_is_refused():
    with pytest.raises(TzooError, match="the head of task 'b' ties weights to its own copy"):
        build_model(SHAPE, {"a": lm(10), "b": lm(10, tied=True)})


def test_scoped_tasks_keep_their_own_tokenizers():
    model = build_model(SHAPE, {"a": lm(10, tied=True), "b": lm(12, tied=True)}, scoped=True)
    assert set(model.tokenizers) == {"a/text", "b/text"}
