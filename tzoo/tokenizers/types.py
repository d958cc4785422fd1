"""Type ids: which learned type embedding a token gets. Owned by the tokenizers, opaque to the backbone."""

TEXT = 0
IMAGE = 1
AUDIO = 2
QUERY = 3
RETURN = 4
STATE = 5
ACTION = 6
NUM_TYPES = 8  # table size; one spare
