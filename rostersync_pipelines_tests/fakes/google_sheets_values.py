"""The values side of the Sheets fake: A1 ranges clipped to the grid, cells rendered, blanks trimmed.

`values.get` answers with the range normalised (`Users!A1:Z1000`), rows trimmed of trailing empty cells,
trailing empty rows dropped and `values` omitted for an empty range (api-notes §2.3, §8); a range that
starts outside the grid is refused as the API refuses it.
"""

from __future__ import annotations

import re


def error_body(code: int, message: str, status: str = "INVALID_ARGUMENT") -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


_A1 = re.compile(r"([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?")


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def values_answer(spreadsheet, text: str, query: dict) -> dict:
    """One `values.get` answer: the range clipped to the grid, rendered as asked, trailing blanks trimmed."""
    title, _, cells = text.partition("!") if not text.startswith("'") else _quoted(text)
    sheet = next((sheet for sheet in spreadsheet.sheets if sheet.title == title), None)
    bounds = _A1.fullmatch(cells.upper())
    if sheet is None or bounds is None:
        return error_body(400, f"Unable to parse range: {text}")
    first_col, first_row, last_col, last_row = bounds.groups()
    single = bounds.group(0).count(":") == 0 and cells != ""
    top, left = int(first_row or 1), _column_number(first_col) or 1
    bottom = int(last_row or (first_row if single else 0) or sheet.row_count)
    right = _column_number(last_col or (first_col if single else "")) or sheet.column_count
    if top > sheet.row_count or left > sheet.column_count:
        return error_body(
            400,
            f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.column_count}",
        )
    bottom, right = min(bottom, sheet.row_count), min(right, sheet.column_count)
    formatted = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0] != "UNFORMATTED_VALUE"
    rows = [
        [_render(cell, formatted) for cell in row[left - 1 : right]] for row in sheet.rows[top - 1 : bottom]
    ]
    if query.get("majorDimension", ["ROWS"])[0] == "COLUMNS":
        width = max(map(len, rows), default=0)
        rows = [[row[i] if i < len(row) else "" for row in rows] for i in range(width)]
    rows = [_trim(row) for row in rows]
    while rows and not rows[-1]:
        rows.pop()
    shown = (
        sheet.title
        if re.fullmatch(r"[A-Za-z0-9_]+", sheet.title)
        else "'" + sheet.title.replace("'", "''") + "'"
    )
    answer = {"range": f"{shown}!{_column_letters(left)}{top}:{_column_letters(right)}{bottom}"}
    answer["majorDimension"] = query.get("majorDimension", ["ROWS"])[0]
    return answer | ({"values": rows} if rows else {})


def _quoted(text: str) -> tuple[str, str, str]:
    match = re.fullmatch(r"'((?:[^']|'')*)'(?:!(.*))?", text)
    if match is None:
        return "", "", "?"
    return match.group(1).replace("''", "'"), "!", match.group(2) or ""


def _render(cell, formatted: bool):
    if isinstance(cell, tuple):
        return cell[0] if formatted else cell[1]
    return "" if cell is None else cell


def _trim(row: list) -> list:
    end = len(row)
    while end and row[end - 1] in ("", None):
        end -= 1
    return row[:end]
