"""How many times a day a cron expression fires, so the config can refuse more than three syncs a day.

The LMS APIs throttle hard (TalentLMS, iSpring): a sync every hour would starve people's own use of the API.
"""

from __future__ import annotations

_FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_NAMES = [
    {},
    {},
    {},
    {name: str(number) for number, name in enumerate(_MONTHS, 1)},
    {name: str(number) for number, name in enumerate(_DAYS)},
]
_MACROS = {
    "@yearly": 1,
    "@annually": 1,
    "@monthly": 1,
    "@weekly": 1,
    "@daily": 1,
    "@midnight": 1,
    "@hourly": 24,
}


def expand_field(field: str, low: int, high: int) -> set[int]:
    """The values a cron field selects; raises ValueError on anything cron would refuse."""
    values: set[int] = set()
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step '{part}' must be at least 1")
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            start_text, stop_text = body.split("-", 1)
            start, stop = int(start_text), int(stop_text)
        else:
            start = int(body)
            stop = high if step_text else start
        if not (low <= start <= stop <= high):
            raise ValueError(f"'{part}' is outside {low}-{high}")
        values.update(range(start, stop + 1, step))
    return values


def runs_per_day(expression: str) -> int:
    macro = expression.strip().lower()
    if macro in _MACROS:
        return _MACROS[macro]
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"'{expression}' is not a cron expression of five fields (minute hour day month weekday) or @daily"
        )
    try:
        expanded = [
            expand_field(_numbered(field, names), low, high)
            for field, (low, high), names in zip(fields, _FIELD_RANGES, _NAMES, strict=True)
        ]
    except ValueError as error:
        raise ValueError(f"'{expression}': {error}") from None
    return len(expanded[0]) * len(expanded[1])


def _numbered(field: str, names: dict[str, str]) -> str:
    """MON-FRI -> 1-5, JAN -> 1: cron accepts names for months and weekdays."""
    field = field.upper()
    for name, number in names.items():
        field = field.replace(name, number)
    return field
