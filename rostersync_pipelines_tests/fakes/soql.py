"""A SOQL parser for the fake org: the subset RosterSync sends, parsed as strictly as Salesforce does.

Anything outside the grammar is refused the way Salesforce refuses it: MALFORMED_QUERY with the row and
column of the token it did not expect. That includes what a careless client would produce: an
unescaped quote, a backslash before a character SOQL does not escape (`\\%` outside LIKE), AND mixed
with OR without parentheses, `AND NOT x` without parentheses around `NOT x`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<op>!=|<>|<=|>=|=|<|>)|(?P<punct>[(),])",
    re.S,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
AGGREGATES = {"COUNT", "MAX", "MIN", "SUM", "AVG", "COUNT_DISTINCT"}
KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "LIMIT",
    "ASC",
    "DESC",
}


class SoqlError(Exception):
    """Refused as Salesforce would: `code` is its errorCode, the message its text."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Token:
    kind: str
    text: str
    at: int

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "name" else self.text


@dataclass
class Query:
    items: list  # ("field", path) | ("agg", FN, path | None); [] = SELECT COUNT()
    sobject: str
    where: tuple | None
    order: tuple[str, bool] | None  # (path, descending)
    limit: int | None


def tokens(soql: str) -> list[Token]:
    found, at = [], 0
    while at < len(soql):
        match = _TOKEN.match(soql, at)
        if match is None:
            raise _malformed(soql, at, soql[at : at + 10].split()[0] if soql[at:].strip() else soql[at])
        if match.lastgroup != "space":
            found.append(Token(match.lastgroup, match.group(), at))
        at = match.end()
    return found


def _malformed(soql: str, at: int, token: str) -> SoqlError:
    row = soql.count("\n", 0, at) + 1
    column = at - (soql.rfind("\n", 0, at) + 1) + 1
    return SoqlError(
        "MALFORMED_QUERY",
        f"{soql[max(0, at - 30) : at + 30]}\nERROR at Row:{row}:Column:{column}\nunexpected token: '{token}'",
    )


def text_of(literal: Token, soql: str, in_like: bool) -> str:
    """The value of a string literal; in LIKE, `%` / `_` become regex wildcards and `\\%` / `\\_` literals."""
    body, out, index = literal.text[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(
                ".*"
                if in_like and char == "%"
                else "."
                if in_like and char == "_"
                else re.escape(char)
                if in_like
                else char
            )
            index += 1
            continue
        following = body[index + 1 : index + 2]
        if following.lower() in _ESCAPES or following in "\"'\\":
            value = _ESCAPES[following.lower() if following.isalpha() else following]
        elif following in "%_" and in_like:
            value = following
        elif following in "uU" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
            value = chr(int(body[index + 2 : index + 6], 16))
            index += 4
        else:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"Invalid string literal {literal.text}. Illegal character sequence '\\{following}' in string literal.",
            )
        out.append(re.escape(value) if in_like else value)
        index += 2
    return "".join(out)


class _Parser:
    def __init__(self, soql: str):
        self.soql, self.tokens, self.index = soql, tokens(soql), 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"{self.soql[-40:]}\nERROR at Row:1:Column:{len(self.soql)}\nunexpected token: '<EOF>'",
            )
        self.index += 1
        return token

    def fail(self, token: Token | None = None):
        token = token or self.peek()
        if token is None:
            self.take()
        raise _malformed(self.soql, token.at, token.text)

    def expect(self, word: str) -> Token:
        token = self.take()
        if token.word != word:
            self.fail(token)
        return token

    def at(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.word in words

    def name(self) -> str:
        token = self.take()
        if token.kind != "name" or token.word in KEYWORDS:
            self.fail(token)
        return token.text

    def query(self) -> Query:
        self.expect("SELECT")
        items = self.select_list()
        self.expect("FROM")
        sobject = self.name()
        where = order = limit = None
        if self.at("WHERE"):
            self.take()
            where = self.expression()
        if self.at("ORDER"):
            self.take()
            self.expect("BY")
            path = self.name()
            descending = self.at("ASC", "DESC") and self.take().word == "DESC"
            order = (path, bool(descending))
        if self.at("LIMIT"):
            self.take()
            token = self.take()
            if token.kind != "number" or not token.text.isdigit():
                self.fail(token)
            limit = int(token.text)
        if self.peek() is not None:
            self.fail()
        return Query(items, sobject, where, order, limit)

    def select_list(self) -> list:
        items = []
        while True:
            token = self.take()
            if token.kind != "name" or token.word in KEYWORDS:
                self.fail(token)
            if token.word in AGGREGATES and self.at("("):
                self.take()
                path = None if self.at(")") and token.word == "COUNT" else self.name()
                self.expect(")")
                if path is None and (items or self.at(",")):
                    self.fail(token)  # COUNT() stands alone
                items.append(("agg", token.word, path) if path else ("count",))
            else:
                items.append(("field", token.text))
            if not self.at(","):
                return [] if items == [("count",)] else items
            self.take()

    def expression(self):
        """After WHERE or `(`: NOT may only start it; AND and OR may not mix without parentheses."""
        first = ("not", self.primary()) if self.at("NOT") and self.take() else self.primary()
        parts, operator = [first], None
        while self.at("AND", "OR"):
            token = self.take()
            if operator is not None and token.word != operator:
                self.fail(token)
            operator = token.word
            if self.at("NOT"):
                self.fail()
            parts.append(self.primary())
        return first if operator is None else (operator.lower(), parts)

    def primary(self):
        if self.at("("):
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        path = self.name()
        token = self.take()
        if token.word == "NOT":
            self.expect("IN")
            return ("in", path, True, self.values())
        if token.word == "IN":
            return ("in", path, False, self.values())
        if token.word == "LIKE":
            literal = self.take()
            if literal.kind != "string":
                self.fail(literal)
            return ("like", path, text_of(literal, self.soql, in_like=True))
        if token.kind != "op":
            self.fail(token)
        return ("cmp", path, "!=" if token.text == "<>" else token.text, self.value())

    def values(self) -> list:
        self.expect("(")
        found = [self.value()]
        while self.at(","):
            self.take()
            found.append(self.value())
        self.expect(")")
        return found

    def value(self):
        token = self.take()
        if token.kind == "string":
            return ("str", text_of(token, self.soql, in_like=False))
        if token.kind == "number":
            return ("num", float(token.text))
        if token.word in ("TRUE", "FALSE"):
            return ("bool", token.word == "TRUE")
        if token.word == "NULL":
            return ("null", None)
        self.fail(token)


def parse(soql: str) -> Query:
    return _Parser(soql).query()
