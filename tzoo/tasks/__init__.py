"""Tasks: heads, losses and metrics on top of the backbone; TzooModel wires everything."""
from .language_model import LanguageModelTask, generate, score
from .model import TzooModel, shared_free_state
from .output import TaskOutput

__all__ = ["LanguageModelTask", "TaskOutput", "TzooModel", "generate", "score", "shared_free_state"]
