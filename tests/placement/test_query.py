"""The ECS cluster query language: parsing, evaluation, canonical text and syntax errors."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyecs.exceptions import QuerySyntaxError
from pyecs.placement.query import (
    And,
    Comparison,
    Expression,
    Not,
    Or,
    QueryTarget,
    matches,
    parse,
)

UTC = datetime.UTC


@dataclasses.dataclass(frozen=True)
class Instance:
    """A container instance as a query sees it."""

    ec2_instance_id: str = "i-abcd1234"
    agent_connected: bool = True
    agent_version: str = "1.20.3"
    registered_at: datetime.datetime = datetime.datetime(2018, 3, 1, 12, 0, tzinfo=UTC)
    running_tasks_count: int = 0
    attributes: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    task_groups: frozenset[str] = frozenset()


def small(**attributes: str | None) -> Instance:
    base: dict[str, str | None] = {
        "ecs.instance-type": "t2.small",
        "ecs.availability-zone": "us-east-1a",
        "ecs.os-type": "linux",
        "ecs.cpu-architecture": "x86_64",
    }
    base.update(attributes)
    return Instance(attributes=base)


def test_instance_is_a_query_target() -> None:
    target: QueryTarget = Instance()
    assert matches("ec2InstanceId == i-abcd1234", target)


# --- operators, in symbol and word form --------------------------------------------------

OPERATOR_CASES = [
    # (symbol form, word form, instance type that satisfies it, one that does not)
    ("== t2.small", "equals t2.small", "t2.small", "t2.micro"),
    ("!= t2.small", "not_equals t2.small", "t2.micro", "t2.small"),
    ("> m", "greater_than m", "t2.small", "c5.large"),
    (">= t2.small", "greater_than_equal t2.small", "t2.small", "t2.micro"),
    ("< m", "less_than m", "c5.large", "t2.small"),
    ("<= t2.micro", "less_than_equal t2.micro", "t2.micro", "t2.small"),
    ("in [t2.small, t2.micro]", "in [t2.small, t2.micro]", "t2.micro", "m5.large"),
    ("!in [t2.small, t2.micro]", "not_in [t2.small, t2.micro]", "m5.large", "t2.micro"),
    ("=~ t2\\..*", "matches t2\\..*", "t2.nano", "m5.large"),
    ("!~ t2\\..*", "not_matches t2\\..*", "m5.large", "t2.nano"),
]


@pytest.mark.parametrize(("symbol", "word", "yes", "no"), OPERATOR_CASES)
def test_operator_in_symbol_and_word_form(symbol: str, word: str, yes: str, no: str) -> None:
    by_symbol = parse(f"attribute:ecs.instance-type {symbol}")
    by_word = parse(f"attribute:ecs.instance-type {word}")
    assert by_symbol == by_word
    for expression in (by_symbol, by_word):
        assert expression.evaluate(small(**{"ecs.instance-type": yes}))
        assert not expression.evaluate(small(**{"ecs.instance-type": no}))


@pytest.mark.parametrize(("symbol", "word"), [("exists", "exists"), ("!exists", "not_exists")])
def test_exists_in_symbol_and_word_form(symbol: str, word: str) -> None:
    by_symbol, by_word = parse(f"attribute:stack {symbol}"), parse(f"attribute:stack {word}")
    assert by_symbol == by_word
    present = symbol == "exists"
    assert by_word.evaluate(small(stack="prod")) is present
    assert by_word.evaluate(small()) is not present


def test_word_operators_and_combinators_are_case_insensitive() -> None:
    assert parse("attribute:a EQUALS x AND NOT attribute:b Exists OR attribute:c NOT_IN [y]") == (
        parse("attribute:a == x and not attribute:b exists or attribute:c !in [y]")
    )


def test_operators_need_no_spaces() -> None:
    assert parse("attribute:a==x&&attribute:b!=y||!attribute:c exists") == parse(
        "attribute:a == x and attribute:b != y or not (attribute:c exists)"
    )


def test_in_accepts_parentheses_as_well_as_brackets() -> None:
    assert parse("task:group in (a, b)") == parse("task:group in [a, b]")


# --- combinators and precedence ----------------------------------------------------------

A, B, C = "attribute:a exists", "attribute:b exists", "attribute:c exists"


def having(*names: str) -> Instance:
    return Instance(attributes=dict.fromkeys(names, "1"))


def test_and_binds_tighter_than_or() -> None:
    expression = parse(f"{A} or {B} and {C}")
    assert expression == Or((parse(A), And((parse(B), parse(C)))))
    assert expression.evaluate(having("a"))  # (a or b) and c would be false
    assert not expression.evaluate(having("b"))


def test_symbol_combinators_have_the_same_precedence() -> None:
    assert parse(f"{A} || {B} && {C}") == parse(f"{A} or {B} and {C}")


def test_not_binds_tighter_than_and() -> None:
    expression = parse(f"not {A} and {B}")
    assert expression == And((Not(parse(A)), parse(B)))
    assert expression.evaluate(having("b"))
    assert not expression.evaluate(having("a", "b"))


@pytest.mark.parametrize("negation", ["not ", "!", "NOT", "! "])
def test_not_and_bang_negate(negation: str) -> None:
    expression = parse(f"{negation}({A})")
    assert expression == Not(parse(A))
    assert expression.evaluate(having())
    assert not expression.evaluate(having("a"))


def test_double_negation() -> None:
    assert parse(f"!!{A}").evaluate(having("a"))
    assert parse(f"not not {A}").evaluate(having("a"))


def test_parentheses_group() -> None:
    expression = parse(f"({A} or {B}) and {C}")
    assert expression == And((Or((parse(A), parse(B))), parse(C)))
    assert not expression.evaluate(having("a"))
    assert expression.evaluate(having("b", "c"))


def test_nested_operators_are_flattened() -> None:
    assert parse(f"{A} and ({B} and {C})") == And((parse(A), parse(B), parse(C)))
    assert parse(f"(({A}))") == parse(A)


# --- the examples of the AWS documentation ------------------------------------------------

AWS_EXAMPLES = [
    # (expression, an instance that satisfies it, an instance that does not)
    (
        "attribute:ecs.instance-type == t2.small",
        small(),
        small(**{"ecs.instance-type": "t2.medium"}),
    ),
    (
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        small(**{"ecs.availability-zone": "us-east-1b"}),
        small(**{"ecs.availability-zone": "us-east-1c"}),
    ),
    (
        "attribute:ecs.instance-type =~ g2.*",
        small(**{"ecs.instance-type": "g2.2xlarge"}),
        small(),
    ),
    (
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        small(**{"ecs.instance-type": "g2.8xlarge"}),
        small(**{"ecs.instance-type": "g2.8xlarge", "ecs.availability-zone": "us-east-1d"}),
    ),
    (
        "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        Instance(ec2_instance_id="i-wxyx7890"),
        Instance(ec2_instance_id="i-00000000"),
    ),
    (
        "attribute:ecs.instance-type =~ t2.* and "
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        small(),
        small(**{"ecs.availability-zone": "us-east-1c"}),
    ),
    (
        "not(attribute:ecs.instance-type =~ t2.*)",
        small(**{"ecs.instance-type": "m5.large"}),
        small(),
    ),
    (
        "task:group == service:production",
        Instance(task_groups=frozenset({"service:production", "family:web"})),
        Instance(task_groups=frozenset({"service:staging"})),
    ),
    (
        "not(task:group == database)",
        Instance(task_groups=frozenset({"service:web"})),
        Instance(task_groups=frozenset({"service:web", "database"})),
    ),
    ("runningTasksCount == 1", Instance(running_tasks_count=1), Instance(running_tasks_count=2)),
    ("agentVersion != 1.20.0", Instance(agent_version="1.21.0"), Instance(agent_version="1.20")),
    (
        "registeredAt < 2018-02-13",
        Instance(registered_at=datetime.datetime(2018, 2, 12, 23, 59, tzinfo=UTC)),
        Instance(registered_at=datetime.datetime(2018, 2, 13, tzinfo=UTC)),
    ),
    ("attribute:stack exists", small(stack="prod"), small()),
    ("attribute:ecs.os-type == linux", small(), small(**{"ecs.os-type": "windows"})),
    (
        "attribute:ecs.cpu-architecture == arm64",
        small(**{"ecs.cpu-architecture": "arm64"}),
        small(),
    ),
    ("agentConnected == true", Instance(agent_connected=True), Instance(agent_connected=False)),
]


@pytest.mark.parametrize(("expression", "yes", "no"), AWS_EXAMPLES)
def test_aws_documentation_example(expression: str, yes: Instance, no: Instance) -> None:
    assert matches(expression, yes)
    assert not matches(expression, no)
    assert matches(parse(expression), yes)


# --- the meaning of subjects and operators ----------------------------------------------


def test_regex_must_match_the_whole_value() -> None:
    """As Java's String.matches does: ``t2`` is not ``t2.micro``, ``t2.*`` is."""
    micro = small(**{"ecs.instance-type": "t2.micro"})
    assert not matches("attribute:ecs.instance-type =~ t2", micro)
    assert matches("attribute:ecs.instance-type =~ t2.*", micro)
    assert matches("attribute:ecs.instance-type !~ micro", micro)
    assert matches("attribute:ecs.instance-type =~ .*micro", micro)


def test_regex_with_parentheses_or_spaces_is_quoted() -> None:
    assert matches("attribute:name =~ '(web|api) server'", small(name="api server"))
    assert matches('attribute:name =~ "t[23]\\.(micro|nano)"', small(name="t3.nano"))
    assert matches("attribute:name =~ t[23]\\.m.*", small(name="t3.micro"))


def test_task_group_equals_when_any_task_belongs_to_the_group() -> None:
    on = Instance(task_groups=frozenset({"service:web", "database"}))
    off = Instance(task_groups=frozenset({"service:web"}))
    empty = Instance()
    assert matches("task:group == database", on)
    assert not matches("task:group != database", on)
    assert matches("task:group != database", off)
    assert matches("task:group != database", empty)
    assert matches("task:group in [cache, database]", on)
    assert not matches("task:group !in [cache, database]", on)
    assert matches("task:group !in [cache, database]", off)
    assert matches("task:group =~ service:.*", off)
    assert not matches("task:group =~ service:.*", empty)
    assert matches("task:group exists", off)
    assert matches("task:group !exists", empty)


def test_missing_attribute_fails_positive_operators_and_passes_negative_ones() -> None:
    bare = Instance()
    for positive in ("== x", "> a", "<= z", "in [x]", "=~ .*", "exists"):
        assert not matches(f"attribute:foo {positive}", bare), positive
    for negative in ("!= x", "!in [x]", "!~ .*", "!exists"):
        assert matches(f"attribute:foo {negative}", bare), negative


def test_attribute_without_value_exists_but_equals_nothing() -> None:
    flagged = Instance(attributes={"gpu": None})
    assert matches("attribute:gpu exists", flagged)
    assert not matches("attribute:gpu !exists", flagged)
    assert not matches("attribute:gpu == ''", flagged)
    assert not matches("attribute:gpu =~ .*", flagged)
    assert matches("attribute:gpu != x", flagged)


def test_attribute_values_compare_as_numbers_when_both_are_numbers() -> None:
    assert matches("attribute:cores > 9", small(cores="10"))  # as text, "10" < "9"
    assert matches("attribute:cores <= 2.5", small(cores="2"))
    assert matches("attribute:name > 9", small(name="a"))  # text: "a" > "9"
    assert not matches("attribute:cores == 10.0", small(cores="10"))  # == is text equality


def test_running_tasks_count_compares_as_a_number() -> None:
    busy = Instance(running_tasks_count=10)
    assert matches("runningTasksCount > 9", busy)
    assert matches("runningTasksCount >= 10", busy)
    assert not matches("runningTasksCount < 10", busy)
    assert matches("runningTasksCount in [0, 10]", busy)
    assert matches("runningTasksCount != 1", busy)


def test_agent_version_compares_component_wise() -> None:
    agent = Instance(agent_version="1.20.3")
    assert matches("agentVersion > 1.9.0", agent)  # as text, "1.20.3" < "1.9.0"
    assert matches("agentVersion < 1.20.10", agent)
    assert matches("agentVersion >= 1.20.3", agent)
    assert matches("agentVersion == 1.20.3", agent)
    assert matches("agentVersion == 1.20.0", Instance(agent_version="1.20"))
    assert matches("agentVersion =~ 1\\.20\\..*", agent)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("registeredAt < 2018-03-01T12:00:01", True),
        ("registeredAt == 2018-03-01T12:00:00Z", True),
        ("registeredAt == 2018-03-01T12:00:00", True),
        ("registeredAt == 2018-03-01T14:00:00+02:00", True),
        ("registeredAt == 2018-03-01T12:00:00.000Z", True),
        ("registeredAt > 2018-03-01", True),
        ("registeredAt <= 2018-03-01", False),
        ("registeredAt > 2018-03-01T12:00:00Z", False),
    ],
)
def test_registered_at_compares_as_a_date(expression: str, expected: bool) -> None:
    assert matches(expression, Instance()) is expected


def test_agent_connected_is_a_boolean() -> None:
    assert matches("agentConnected == TRUE", Instance())
    assert matches("agentConnected != false", Instance())
    assert matches("agentConnected == false", Instance(agent_connected=False))
    assert matches("agentConnected in [false]", Instance(agent_connected=False))


def test_quoted_values() -> None:
    assert matches("attribute:team == 'red team'", small(team="red team"))
    assert matches('attribute:team == "it\'s"', small(team="it's"))
    assert matches("attribute:team == 'it''s'", small(team="it's"))
    assert matches("attribute:team in ['a, b', \"c\"]", small(team="a, b"))
    assert matches("attribute:team == ''", small(team="")) is True


def test_bare_values_hold_regex_and_ecs_characters() -> None:
    assert matches("attribute:owner == user@example.com", small(owner="user@example.com"))
    assert matches(
        "attribute:ecs.ami-id == ami-0a1b/c:d_e", small(**{"ecs.ami-id": "ami-0a1b/c:d_e"})
    )
    assert parse("attribute:x =~ a+b?c{1,2}$").evaluate(small(x="aabccc")) is False
    assert parse("attribute:x =~ ^a+b?c{1,2}$").evaluate(small(x="aaabcc")) is True


# --- the parsed expression ----------------------------------------------------------------


def test_str_is_canonical() -> None:
    expression = parse(
        "  NOT(attribute:a  equals x)&&(task:group in ['service:web' ,db] || runningTasksCount>1)"
    )
    assert str(expression) == (
        "not (attribute:a == x) and (task:group in [service:web, db] or runningTasksCount > 1)"
    )
    assert str(parse("attribute:a == 'two words'")) == "attribute:a == 'two words'"
    assert str(parse('attribute:a == "it\'s"')) == 'attribute:a == "it\'s"'
    assert str(parse("attribute:a =~ '(x|y)'")) == "attribute:a =~ '(x|y)'"
    assert str(parse("attribute:a not_exists")) == "attribute:a !exists"


def test_source_keeps_the_text_and_equality_ignores_it() -> None:
    text = "attribute:a   ==  x"
    expression = parse(text)
    assert expression.source == text
    assert expression == parse("attribute:a == x")
    assert hash(expression) == hash(parse("attribute:a == x"))
    assert parse("(attribute:a == x) or task:group == y").operands[0].source == "attribute:a == x"


def test_subjects_lists_every_subject_used() -> None:
    expression = parse(
        "attribute:ecs.availability-zone in [a, b] and not (task:group == db or task:group == c)"
    )
    assert expression.subjects == frozenset({"attribute:ecs.availability-zone", "task:group"})
    assert parse("runningTasksCount < 2").subjects == frozenset({"runningTasksCount"})


def test_parse_is_cached() -> None:
    assert parse("attribute:cached exists") is parse("attribute:cached exists")


def test_expressions_built_by_hand_evaluate_and_print() -> None:
    expression = And(
        (Comparison("attribute:a", "==", ("x y",)), Not(Comparison("task:group", "exists")))
    )
    assert isinstance(expression, Expression)
    assert str(expression) == "attribute:a == 'x y' and not (task:group exists)"
    assert expression.source == str(expression)
    assert expression.evaluate(Instance(attributes={"a": "x y"}))
    assert parse(str(expression)) == expression


# --- syntax errors ------------------------------------------------------------------------

SYNTAX_ERRORS = [
    # (expression, 1-based column, part of the message)
    ("", 1, "the expression is empty"),
    ("   ", 1, "the expression is empty"),
    ("agentconnected == true", 1, "did you mean agentConnected?"),
    ("ecs.instance-type == t2", 1, "write attribute:ecs.instance-type"),
    (
        "attribute:x",
        12,
        "expected an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~) "
        "after 'attribute:x'",
    ),
    ("attribute:x = y", 13, "unknown operator '='"),
    ("attribute:x equal y", 13, "unknown operator 'equal'"),
    ("attribute:x ==", 15, "expected a value after '=='"),
    ("attribute:x == )", 16, "expected a value after '=='"),
    ("(attribute:x == y", 18, "expected ')' to close the '(' at column 1"),
    ("((attribute:x == y)", 20, "expected ')' to close the '(' at column 1"),
    ("attribute:x == y)", 17, "unexpected ')': there is no '(' to close"),
    ("attribute:x == 'y", 16, "unterminated string: expected a closing '"),
    ('attribute:x in ["a, b]', 17, 'unterminated string: expected a closing "'),
    ("attribute:x == y z", 18, "expected 'and', 'or', or the end of the expression after"),
    ("(attribute:x == y z)", 19, "expected 'and', 'or', ')', or the end of the expression"),
    ("attribute:x == a(b)", 17, "quote a value that holds spaces, quotes or parentheses"),
    ("attribute:x =~ 'a(b'", 18, "invalid regular expression 'a(b'"),
    ("attribute:x =~ *", 16, "invalid regular expression '*': nothing to repeat"),
    ("attribute:x exists y", 20, "'exists' takes no argument"),
    ("attribute:x not_exists 'y'", 24, "'!exists' takes no argument"),
    ("attribute:x in y", 16, "expected a list such as [a, b] after 'in'"),
    ("attribute:x !in", 16, "expected a list such as [a, b] after '!in'"),
    ("attribute:x in [a, b", 21, "expected ',' or ']' in the list opened at column 16"),
    ("attribute:x in [a b]", 19, "expected ',' or ']' in the list"),
    ("attribute:x in (a, b]", 21, "expected ',' or ')'"),
    ("attribute:x in [a,]", 19, "expected a value in the list"),
    ("attribute:x in []", 17, "expected a value in the list"),
    ("attribute:x == [a]", 16, "a list [a, b] follows only 'in' and '!in'"),
    ("runningTasksCount > many", 21, "expected a number such as 3 for runningTasksCount"),
    ("agentConnected == yes", 19, "expected true or false for agentConnected"),
    ("agentVersion < latest", 16, "expected an agent version such as 1.20.3"),
    ("registeredAt < 2018-02-30", 16, "expected a date such as 2018-02-13"),
    ("registeredAt in [2018-02-13, yesterday]", 30, "expected a date"),
    ("attribute:x == y and", 21, "after 'attribute:x == y and', not the end"),
    ("attribute:x == y or or z", 21, "expected a subject"),
    ("attribute:x == y &&", 20, "expected a subject"),
    ("not", 4, "expected a subject (agentConnected, agentVersion, attribute:<name>,"),
    ("()", 2, "expected a subject"),
    ("== x", 1, "expected a subject"),
    ("attribute: == x", 11, "expected an attribute name of 1 to 128 characters"),
    ("attribute:ecs.* == x", 15, "an attribute name holds only letters"),
    ("attribute:" + "n" * 129 + " exists", 11, "not one of 129"),
]


@pytest.mark.parametrize(("expression", "column", "message"), SYNTAX_ERRORS)
def test_syntax_error_points_at_the_column(expression: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(expression)
    assert caught.value.column == column
    assert message in caught.value.reason
    assert caught.value.expression == expression
    assert f"at column {column} " in str(caught.value)


def test_expression_over_2000_characters_is_rejected() -> None:
    def of_length(n: int) -> str:
        head = "attribute:" + "n" * 100 + " exists or " + "attribute:abc exists or " * 75
        return head + "attribute:" + "x" * (n - len(head) - len("attribute: exists")) + " exists"

    assert len(of_length(2000)) == 2000
    parse(of_length(2000))
    with pytest.raises(QuerySyntaxError) as caught:
        parse(of_length(2001))
    assert caught.value.column == 2001
    assert "2001 characters long; ECS allows at most 2000" in caught.value.reason


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    deep = "(" * 51 + "attribute:x exists" + ")" * 51
    with pytest.raises(QuerySyntaxError) as caught:
        parse(deep)
    assert caught.value.column == 51
    assert parse("(" * 50 + "attribute:x exists" + ")" * 50) == parse("attribute:x exists")
    with pytest.raises(QuerySyntaxError):
        parse("!" * 1000 + "attribute:x exists")


def test_matches_reports_syntax_errors() -> None:
    with pytest.raises(QuerySyntaxError):
        matches("attribute:x", Instance())


# --- properties ---------------------------------------------------------------------------

NAMES = ["ecs.instance-type", "ecs.availability-zone", "stack", "team/a_b", "cores"]
TEXTS = ["t2.micro", "t2.small", "g2.2xlarge", "us-east-1a", "10", "9", "x y", "it's", "a\"b'c"]
TEXTS += ["@a:b", "", "[x]", "a,b", "and", "(p)", "&&", "é"]
PATTERNS = ["t2.*", "g2\\..*", ".*", "us-east-1[ab]", "(a|b) c", "[0-9]+", "x{1,2}"]
GROUPS = ["service:web", "family:db", "database", "service:production"]
VERSIONS = ["1.20.3", "1.9.0", "1.20", "2.0.0"]
DATES = ["2018-02-13", "2018-02-13T10:00:00", "2018-02-13T10:00:00Z", "2018-03-01T12:00:00+01:00"]


def quoted(value: str) -> st.SearchStrategy[str]:
    """Ways to write ``value`` as an argument."""
    forms = ["'" + value.replace("'", "''") + "'", '"' + value.replace('"', '""') + '"']
    simple = value and all(c.isalnum() or c in ".-_:@/*+?" for c in value)
    return st.sampled_from([*forms, value] if simple else forms)


def arguments(values: list[str], regex: bool) -> st.SearchStrategy[str]:
    pool = PATTERNS if regex else values
    return st.sampled_from(pool).flatmap(quoted)


OPERATORS = ["==", "equals", "!=", "not_equals", ">", ">=", "<", "<=", "less_than", "exists"]
OPERATORS += ["!exists", "not_exists", "in", "!in", "NOT_IN", "=~", "matches", "!~", "not_matches"]


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    subject, values = draw(
        st.sampled_from(
            [("attribute:" + name, TEXTS) for name in NAMES]
            + [
                ("ec2InstanceId", ["i-1", "i-2"]),
                ("task:group", GROUPS),
                ("agentVersion", VERSIONS),
                ("registeredAt", DATES),
                ("runningTasksCount", ["0", "1", "10"]),
                ("agentConnected", ["true", "FALSE"]),
            ]
        )
    )
    operator = draw(st.sampled_from(OPERATORS))
    space = draw(st.sampled_from([" ", "  ", "\t"]))
    if operator in ("exists", "!exists", "not_exists"):
        return f"{subject} {operator}"
    if operator.lower() in ("in", "!in", "not_in"):
        items = draw(st.lists(arguments(values, regex=False), min_size=1, max_size=3))
        return f"{subject} {operator}{space}[{', '.join(items)}]"
    regex = operator in ("=~", "matches", "!~", "not_matches")
    return f"{subject}{space}{operator} {draw(arguments(values, regex))}"


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    joined = st.tuples(
        children, st.sampled_from(["and", "AND", "&&", "or", "Or", "||"]), children
    ).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
    negated = st.tuples(st.sampled_from(["not ", "!", "NOT "]), children).map(
        lambda t: f"{t[0]}({t[1]})"
    )
    grouped = children.map(lambda c: f"( {c} )")
    return st.one_of(joined, negated, grouped)


expressions = st.recursive(comparisons(), combine, max_leaves=8)

instances = st.builds(
    Instance,
    ec2_instance_id=st.sampled_from(["i-1", "i-2"]),
    agent_connected=st.booleans(),
    agent_version=st.sampled_from(VERSIONS),
    registered_at=st.datetimes(
        min_value=datetime.datetime(2018, 2, 1), max_value=datetime.datetime(2018, 4, 1)
    ).map(lambda d: d.replace(tzinfo=UTC)),
    running_tasks_count=st.integers(0, 12),
    attributes=st.dictionaries(
        st.sampled_from(NAMES), st.one_of(st.none(), st.sampled_from([*TEXTS, "t2.nano"]))
    ),
    task_groups=st.frozensets(st.sampled_from(GROUPS)),
)


@settings(max_examples=300)
@given(expressions, st.lists(instances, min_size=1, max_size=5))
def test_canonical_text_parses_back_to_the_same_meaning(text: str, targets: list[Instance]) -> None:
    expression = parse(text)
    again = parse(str(expression))
    assert again == expression
    assert str(again) == str(expression)
    for target in targets:
        assert again.evaluate(target) == expression.evaluate(target)


QUERY_PIECES = list("()[],'\" !=<>~&|:*.-_/\\+?{}^$@aZ09\t")
QUERY_PIECES += ["attribute:", "task:group", "exists", "not", "and", "or", "in", "==", "=~"]
QUERY_ALPHABET = st.sampled_from(QUERY_PIECES)


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=60), st.lists(QUERY_ALPHABET, max_size=30).map("".join)))
def test_arbitrary_text_raises_only_query_syntax_errors(text: str) -> None:
    try:
        expression = parse(text)
    except QuerySyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
    else:
        assert parse(str(expression)) == expression
        expression.evaluate(Instance(attributes={"x": "1"}, task_groups=frozenset({"a"})))
