"""Tasks: heads, losses and metrics on top of the backbone; TzooModel wires everything."""
from .classification import ClassificationTask, classification_metrics, classify, top_k
from .language_model import LanguageModelTask, generate, score
from .model import TzooModel, shared_free_state
from .output import TaskOutput

__all__ = ["ClassificationTask", "LanguageModelTask", "TaskOutput", "TzooModel", "classification_metrics",
           "classify", "generate", "score", "shared_free_state", "top_k"]
