"""`python -m tzoo` (and `accelerate launch -m tzoo`, `torchrun -m tzoo`)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
