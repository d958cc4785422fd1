"""A task's `readout`: the model runs the last block for the states the task reads, and nothing else."""
import torch

from tzoo.backbone import Backbone, BackboneConfig
from tzoo.tasks import TzooModel
from tzoo.tasks.classification import ClassificationTask
from tzoo.tasks.model import readout_rows
from tzoo.tokenizers import QueryTokenizer
from tzoo.tokenizers.image import ImageTokenizer


def test_readout_rows_of_the_joint_set():
    spans = [(0, 1), (1, 17)]
    assert readout_rows(("query", slice(0, 1)), ("query", "image"), spans, "full") == (0, slice(0, 1, 1))
    assert readout_rows(("image", slice(1, None, 3)), ("query", "image"), spans, "causal") == (1, slice(2, 17, 3))
    assert readout_rows(("image", slice(None)), ("query", "image"), spans, "prefix") == (1, slice(1, 17, 1))
    assert readout_rows(("query", slice(None)), ("query",), [(0, 5)], "causal") is None  # every token: no saving
    assert readout_rows(("image", slice(None)), ("query", "image"), spans, "encdec") is None
    assert readout_rows(None, ("query", "image"), spans, "full") is None


def test_a_cls_classifier_reads_one_state_with_the_logits_of_the_whole_run():
    torch.manual_seed(0)
    tokenizers = {"query": QueryTokenizer(1, 16), "image": ImageTokenizer(7, 16, channels=1, mean=(0.5,), std=(0.5,))}
    task = ClassificationTask(16, 10, ("query", "image"), "cls")
    torch.nn.init.normal_(task.head.weight)
    model = TzooModel(tokenizers, Backbone(BackboneConfig(dim=16, depth=2, heads=2, max_positions=32)),
                      {"digits": task}).eval()
    batch = {"image": torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)}
    parts, _ = model.encode(batch)
    assert parts[0].shape == (3, 1, 16) and parts[1] is None
    tokens, _ = model.tokenize(batch)
    whole = model.backbone(tokens, "full")  # (B, 17, D)
    torch.testing.assert_close(model(batch).outputs["logits"], task.head(whole[:, 0]), atol=1e-5, rtol=1e-5)
