"""tzoo: one transformer backbone for text, images and audio, mixed in one model.

    import tzoo
    run = tzoo.load("runs/char-lm")      # any run directory, finished or not
    print(run.generate("ROMEO:"))
"""
__version__ = "0.1.0"

from .api import Trained, load  # noqa: E402  (after __version__, which the run directory records)
from .recipes.custom import fit, load_into  # noqa: E402

__all__ = ["Trained", "fit", "load", "load_into", "__version__"]
