"""Values an LMS must never receive: control characters, absurd lengths, emails no mail server accepts.

A NUL byte or a 5 MB first name in an export is a broken or hostile file, not a person's data; writing it
would corrupt the LMS record (or the LMS refuses it half way through an apply). Such a row is rejected with
a reason naming the field, and the person's LMS account is left as it is.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.frames import nones

CONTROL = r"[\x00-\x1f\x7f-\x9f]"
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit
DEFAULT_LIMIT = 255


def _text(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def value_problems(frame: pd.DataFrame, columns: list[str], limits: dict[str, int]) -> pd.Series:
    """The first problem of each row ('first_name has a control character (NUL)'), or None."""
    reason = nones(frame.index)
    default = limits.get("default", DEFAULT_LIMIT)
    for column in columns:
        if column not in frame or frame[column].dtype != object:
            continue
        text = _text(frame[column])
        limit = MAX_EMAIL_LENGTH if column == "email" else limits.get(column.removeprefix("custom."), default)
        lengths = pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
        too_long = pd.Series(lengths > limit, index=frame.index)
        control = pd.Series(
            pc.fill_null(pc.match_substring_regex(text, CONTROL), False).to_numpy(zero_copy_only=False),
            index=frame.index,
        )
        name = column.removeprefix("custom.")
        if control.any():
            codes = frame.loc[control, column].str.extract(f"({CONTROL})", expand=False)
            shown = codes.map(lambda char: "NUL" if char == "\x00" else f"U+{ord(char):04X}")
            reason = reason.where(
                reason.notna() | ~control, f"{name} has a control character (" + shown + ")"
            )
        if too_long.any():
            text_length = pd.Series(lengths, index=frame.index)[too_long].map("{:,}".format)
            message = f"{name} is " + text_length + f" characters long; at most {limit:,}"
            if column != "email":
                message = message + " (policies.max_lengths)"
            reason = reason.where(reason.notna() | ~too_long, message)
    return reason
