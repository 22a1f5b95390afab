"""Finding the line that sets each key of a jobs file, for problem reports."""

from __future__ import annotations

import pytest

from obssched.cli._tomllines import key_lines

FILE = '''# a comment with key = "value"
[scheduler]
name = "x"  # trailing = comment
"quoted.key" = 1

[scheduler.job_defaults]
coalesce = true

[[jobs]]
id = "first"
args = [
  "not = a key",
  [1, 2],
]
notes = """
fake = 1
[[jobs]]
"""
literal = \'\'\'
other = 2\'\'\'
kwargs = { a = 1, b = [
  "c = d",
] }
seconds = 3

[jobs.extra]
deep = 1

[[jobs]]
id = "second"
trigger.kind = "dotted"
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param(("scheduler",), 2, id="table"),
        pytest.param(("scheduler", "name"), 3, id="key"),
        pytest.param(("scheduler", "quoted.key"), 4, id="quoted-key"),
        pytest.param(("scheduler", "job_defaults", "coalesce"), 7, id="subtable-key"),
        pytest.param(("jobs", 1), 9, id="first-job-header"),
        pytest.param(("jobs", 1, "args"), 11, id="multi-line-array"),
        pytest.param(("jobs", 1, "notes"), 15, id="multi-line-string"),
        pytest.param(("jobs", 1, "literal"), 19, id="multi-line-literal"),
        pytest.param(("jobs", 1, "kwargs"), 21, id="inline-table"),
        pytest.param(("jobs", 1, "seconds"), 24, id="after-values"),
        pytest.param(("jobs", 1, "extra"), 26, id="job-subtable"),
        pytest.param(("jobs", 2), 29, id="second-job-header"),
        pytest.param(("jobs", 2, "trigger", "kind"), 31, id="dotted-key"),
    ],
)
def test_each_key_is_found_at_the_line_that_sets_it(path: tuple[str | int, ...], line: int) -> None:
    """Keys, tables and job tables map to their line, whatever the values around them."""
    assert key_lines(FILE)[path] == line


@pytest.mark.parametrize(
    "path",
    [("jobs", 1, "fake"), ("jobs", 3), ("jobs", 1, "not"), ("a comment with key",)],
    ids=["inside-string", "header-inside-string", "inside-array", "comment"],
)
def test_text_inside_values_and_comments_is_not_a_key(path: tuple[str | int, ...]) -> None:
    """What looks like a key inside a string, an array or a comment is not one."""
    assert path not in key_lines(FILE)
