"""JSON text for many cells at once: the plan's `changes`/`values` dicts, a million of them in a first sync.

`json.dumps(value, **options)` builds an encoder per call, and even `JSONEncoder.encode` builds its C
encoder per call: for a dict of ten strings that setup cost as much as the encoding. Here the C encoder is
built once and reused, with the same output as `json.dumps(value, sort_keys=..., default=str)`. It does
not look for circular references (a plan's dicts are trees): one would end in a RecursionError rather
than a ValueError.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterable


def encoder(sort_keys: bool = False) -> Callable[[object], str]:
    """json.dumps(value, sort_keys=sort_keys, default=str), reusable."""
    make = json.encoder.c_make_encoder
    if make is None:  # a Python without the C accelerator
        return json.JSONEncoder(sort_keys=sort_keys, default=str).encode
    ascii_text = json.encoder.encode_basestring_ascii
    iterencode = make(None, str, ascii_text, None, ": ", ", ", sort_keys, False, True)
    join = "".join

    def encode(value) -> str:
        if isinstance(value, str):  # as JSONEncoder.encode does: the C encoder wants a container
            return ascii_text(value)
        return join(iterencode(value, 0))

    return encode


def encode_all(values: Iterable, sort_keys: bool = False) -> list[str | None]:
    """The JSON text of every value, None for None."""
    encode = encoder(sort_keys)
    return [None if value is None else encode(value) for value in values]
