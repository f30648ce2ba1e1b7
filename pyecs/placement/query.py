"""The ECS cluster query language: ``subject operator [argument]``, combined with and/or/not.

Placement constraints of type ``memberOf`` select container instances with it::

    >>> expression = parse("attribute:ecs.instance-type =~ t2.* and not(task:group == db)")
    >>> str(expression)
    'attribute:ecs.instance-type =~ t2.* and not (task:group == db)'

The grammar, with ``not`` binding tighter than ``and``, and ``and`` tighter than ``or``::

    or         := and (("or" | "||") and)*
    and        := unary (("and" | "&&") unary)*
    unary      := ("not" | "!") unary | "(" or ")" | comparison
    comparison := subject operator [value | "[" value ("," value)* "]"]

Word operators and combinators are case-insensitive. Values are bare words (which may hold
regular expression characters, ``:``, ``@``...) or quoted with ``'`` or ``"`` (a quote is
doubled inside its own kind: ``'it''s'``); quote a value holding spaces or parentheses.

``=~`` and ``!~`` take a regular expression (ECS documents Java syntax; Python's ``re`` is
used, which agrees on everyday patterns) that must match the *whole* value, as Java's
``String.matches`` does: ``t2.*`` matches ``t2.micro`` and ``t2`` does not.
"""

from __future__ import annotations

import difflib
import functools
import re

from pyecs.exceptions import QuerySyntaxError
from pyecs.placement._query_ast import (
    LIST_WORD,
    SCALAR_WORD,
    TYPED_SUBJECTS,
    And,
    Comparison,
    Expression,
    Not,
    Or,
    QueryTarget,
    argument_key,
    compile_pattern,
)

__all__ = [
    "And",
    "Comparison",
    "Expression",
    "Not",
    "Or",
    "QueryTarget",
    "matches",
    "parse",
]

#: The longest expression ECS accepts.
MAX_LENGTH = 2000
#: How deeply parentheses and ``not`` may nest; keeps the parser far from the stack limit.
MAX_DEPTH = 50
SUBJECTS = (
    "agentConnected",
    "agentVersion",
    "attribute:",
    "ec2InstanceId",
    "registeredAt",
    "runningTasksCount",
    "task:group",
)
_WORD_OPERATORS = {
    "equals": "==",
    "not_equals": "!=",
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
    "exists": "exists",
    "not_exists": "!exists",
    "in": "in",
    "not_in": "!in",
    "matches": "=~",
    "not_matches": "!~",
}
_OPERATORS_HINT = "(==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)"
_SUBJECTS_HINT = (
    "a subject (agentConnected, agentVersion, attribute:<name>, ec2InstanceId, "
    "registeredAt, runningTasksCount, task:group)"
)
_EXPECTED_VALUE = {
    "boolean": "true or false",
    "version": "an agent version such as 1.20.3",
    "date": "a date such as 2018-02-13 or 2018-02-13T10:00:00Z",
    "number": "a number such as 3",
}
_WORDISH = r"(?![A-Za-z0-9_./:-])"  # a word ends where no subject or name character follows
_SUBJECT = re.compile(r"[^\s()\[\],'\"!=<>~&|]+")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_./-]{1,128}")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_./-]")
_SYMBOL_OPERATOR = re.compile(rf"!exists{_WORDISH}|!in{_WORDISH}|==|!=|>=|<=|=~|!~|>|<", re.I)
_WORD_OPERATOR = re.compile(rf"[A-Za-z_]+{_WORDISH}")
_NOT = re.compile(rf"not{_WORDISH}", re.I)
_COMBINATORS = {
    "and": re.compile(rf"&&|and{_WORDISH}", re.I),
    "or": re.compile(rf"\|\||or{_WORDISH}", re.I),
}


class _Parser:
    """A recursive-descent parser that scans as it goes.

    What a character means depends on where it stands (``!`` negates before a subject and
    starts ``!=`` after one; ``*`` is plain text in a value), so the parser asks for the
    kind of token it expects next rather than splitting the text up front.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        # The last comparison read and its operator, for messages about what follows it.
        self.last = (0, 0)
        self.last_operator = ""

    def error(self, pos: int, message: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.text, min(pos, len(self.text)) + 1, message)

    def skip_space(self) -> int:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def accept(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        return match

    def parse(self) -> Expression:
        if len(self.text) > MAX_LENGTH:
            raise self.error(
                MAX_LENGTH,
                f"the expression is {len(self.text)} characters long; ECS allows at most "
                f"{MAX_LENGTH}: split the constraint into several",
            )
        if not self.text.strip():
            raise self.error(0, f"the expression is empty; expected {_SUBJECTS_HINT}")
        expression = self.parse_or()
        if self.skip_space() < len(self.text):
            raise self.unexpected()
        return expression

    def unexpected(self) -> QuerySyntaxError:
        """The error for what follows a complete comparison where none may."""
        char = self.peek()
        after = self.text[self.last[0] : self.last[1]]
        if char == ")" and not self.depth:
            return self.error(self.pos, "unexpected ')': there is no '(' to close")
        closing = " ')'," if self.depth else ""
        expected = f"expected 'and', 'or',{closing} or the end of the expression"
        if self.last_operator in ("exists", "!exists"):
            return self.error(self.pos, f"'{self.last_operator}' takes no argument; {expected}")
        if char in ("(", "'", '"'):
            expected += " (quote a value that holds spaces, quotes or parentheses)"
        return self.error(self.pos, f"{expected} after '{after}'")

    def parse_or(self) -> Expression:
        start = self.skip_space()
        operands = [self.parse_and()]
        while self.skip_space() < len(self.text) and self.accept(_COMBINATORS["or"]):
            operands.append(self.parse_and())
        return self.combine(Or, operands, start)

    def parse_and(self) -> Expression:
        start = self.skip_space()
        operands = [self.parse_unary()]
        while self.skip_space() < len(self.text) and self.accept(_COMBINATORS["and"]):
            operands.append(self.parse_unary())
        return self.combine(And, operands, start)

    def combine(
        self, kind: type[And] | type[Or], operands: list[Expression], start: int
    ) -> Expression:
        if len(operands) == 1:
            return operands[0]
        flat: list[Expression] = []
        for operand in operands:  # a and (b and c) is a and b and c
            flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
        return kind(tuple(flat), source=self.text[start : self.pos])

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(pos, f"the expression nests deeper than {MAX_DEPTH} levels")

    def parse_unary(self) -> Expression:
        start = self.skip_space()
        negated = self.peek() == "!"
        self.pos += negated
        if negated or self.accept(_NOT):
            self.enter(start)
            operand = self.parse_unary()
            self.depth -= 1
            return Not(operand, source=self.text[start : self.pos])
        if self.peek() == "(":
            self.pos += 1
            self.enter(start)
            inner = self.parse_or()
            if self.skip_space() >= len(self.text):
                raise self.error(self.pos, f"expected ')' to close the '(' at column {start + 1}")
            if self.peek() != ")":
                raise self.unexpected()
            self.pos += 1
            self.depth -= 1
            return inner
        return self.parse_comparison(start)

    def parse_comparison(self, start: int) -> Comparison:
        match = self.accept(_SUBJECT)
        if not match:
            before = self.text[:start].rstrip()
            after = f" after '{before[-20:]}'" if before else ""
            word = re.match(r"\S{1,20}", self.text[start:])
            found = f"'{word.group()}'" if word else "the end"
            raise self.error(start, f"expected {_SUBJECTS_HINT}, '(' or 'not'{after}, not {found}")
        subject = match.group()
        self.check_subject(subject, start)
        operator = self.parse_operator(subject)
        if operator in ("exists", "!exists"):
            arguments: tuple[str, ...] = ()
        elif operator in ("in", "!in"):
            arguments = self.parse_list(subject, operator)
        else:
            arguments = (self.parse_value(subject, operator, in_list=False),)
        self.last, self.last_operator = (start, self.pos), operator
        return Comparison(subject, operator, arguments, source=self.text[start : self.pos])

    def check_subject(self, subject: str, start: int) -> None:
        if subject.startswith("attribute:"):
            name = subject[len("attribute:") :]
            name_start = start + len("attribute:")
            for offset, char in enumerate(name):
                if not _NAME_CHAR.fullmatch(char):
                    raise self.error(
                        name_start + offset,
                        f"an attribute name holds only letters, digits, '-', '_', '/' and "
                        f"'.', not {char!r}",
                    )
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise self.error(
                    name_start,
                    "expected an attribute name of 1 to 128 characters after 'attribute:'"
                    + (f", not one of {len(name)}" if name else ""),
                )
        elif subject not in SUBJECTS:
            close = difflib.get_close_matches(subject, SUBJECTS, n=1)
            named = _ATTRIBUTE_NAME.fullmatch(subject)
            if close and not (named and any(c in "./-_" for c in subject)):
                hint = f"; did you mean {close[0].replace('attribute:', 'attribute:<name>')}?"
            else:
                hint = f"; for an attribute, write attribute:{subject}" if named else ""
            raise self.error(start, f"unknown subject '{subject}'; expected {_SUBJECTS_HINT}{hint}")

    def parse_operator(self, subject: str) -> str:
        pos = self.skip_space()
        match = self.accept(_SYMBOL_OPERATOR)
        if match:
            return match.group().lower()
        match = self.accept(_WORD_OPERATOR)
        if match and match.group().lower() in _WORD_OPERATORS:
            return _WORD_OPERATORS[match.group().lower()]
        expected = f"expected an operator {_OPERATORS_HINT} after '{subject}'"
        if pos >= len(self.text):
            raise self.error(pos, expected)
        found = re.match(r"\S{1,20}", self.text[pos:])
        raise self.error(pos, f"unknown operator '{found.group() if found else ''}'; {expected}")

    def parse_list(self, subject: str, operator: str) -> tuple[str, ...]:
        opening = self.skip_space()
        closer = {"[": "]", "(": ")"}.get(self.peek())
        if closer is None:
            raise self.error(opening, f"expected a list such as [a, b] after '{operator}'")
        self.pos += 1
        items = [self.parse_value(subject, operator, in_list=True)]
        while True:
            pos = self.skip_space()
            char = self.peek()
            if char == closer:
                self.pos += 1
                return tuple(items)
            if char != ",":
                what = "the end" if not char else f"'{char}'"
                raise self.error(
                    pos,
                    f"expected ',' or '{closer}' in the list opened at column {opening + 1}, "
                    f"not {what}",
                )
            self.pos += 1
            items.append(self.parse_value(subject, operator, in_list=True))

    def parse_value(self, subject: str, operator: str, *, in_list: bool) -> str:
        pos = self.skip_space()
        quote = self.peek()
        if quote in ("'", '"'):
            value = self.parse_quoted(quote)
        else:
            match = self.accept(LIST_WORD if in_list else SCALAR_WORD)
            if not match:
                where = "in the list" if in_list else f"after '{operator}'"
                hint = "" if in_list else "; a list [a, b] follows only 'in' and '!in'"
                raise self.error(pos, f"expected a value {where} (quote values with spaces){hint}")
            value = match.group()
        if operator in ("=~", "!~"):
            self.check_pattern(value, pos + (quote in ("'", '"')))
        elif subject in TYPED_SUBJECTS and argument_key(subject, value) is None:
            expected = _EXPECTED_VALUE[TYPED_SUBJECTS[subject]]
            raise self.error(pos, f"expected {expected} for {subject}, not '{value}'")
        return value

    def parse_quoted(self, quote: str) -> str:
        start = self.pos
        parts: list[str] = []
        self.pos += 1
        while True:
            end = self.text.find(quote, self.pos)
            if end < 0:
                raise self.error(start, f"unterminated string: expected a closing {quote}")
            parts.append(self.text[self.pos : end])
            self.pos = end + 1
            if self.peek() != quote:  # a doubled quote stands for itself
                return quote.join(parts)
            self.pos += 1

    def check_pattern(self, pattern: str, pos: int) -> None:
        try:
            compile_pattern(pattern)
        except re.error as error:
            raise self.error(
                pos + (error.pos or 0), f"invalid regular expression '{pattern}': {error.msg}"
            ) from None
        except (RecursionError, OverflowError, ValueError):
            raise self.error(pos, f"regular expression too complex: '{pattern[:40]}'") from None


@functools.lru_cache(maxsize=4096)
def parse(expression: str) -> Expression:
    """Parse a cluster query language expression.

    Args:
        expression: The query, such as ``attribute:ecs.availability-zone in [a, b]``.

    Returns:
        The immutable expression; ``source`` holds ``expression`` unchanged. Results are
        cached, so parsing the same text again is cheap.

    Raises:
        QuerySyntaxError: The text does not parse; the error gives the 1-based column and
            what was expected there.
    """
    root = _Parser(expression).parse()
    # The node is brand new and shared with no one yet: give it the whole text as source.
    object.__setattr__(root, "source", expression)
    return root


def matches(expression: str | Expression, target: QueryTarget) -> bool:
    """Whether ``target`` satisfies ``expression``.

    Args:
        expression: A query, as text (parsed, with caching) or already parsed.
        target: The container instance (or anything offering its values) to test.

    Raises:
        QuerySyntaxError: ``expression`` is text that does not parse.
    """
    if isinstance(expression, str):
        expression = parse(expression)
    return expression.evaluate(target)
