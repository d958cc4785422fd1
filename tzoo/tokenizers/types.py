"""Type ids: which learned type embedding a token gets. Owned by the tokenizers, opaque to the backbone.

The table is sized once for every kind of token the zoo has or plans (with room to spare), so a
checkpoint's shape does not change when a new kind arrives.
"""

TEXT = 0  # plain text (language modelling)
IMAGE = 1
AUDIO = 2
QUERY = 3  # learned query tokens (CLS, registers)
RETURN = 4  # control: return-to-go
STATE = 5  # control: observation
ACTION = 6  # control: action
FIELD = 7  # scalar / categorical side information, one token per field
QUESTION = 8  # text that conditions an answer
ANSWER = 9  # generated text answering a question
NUM_TYPES = 16  # table size; 10-15 spare
