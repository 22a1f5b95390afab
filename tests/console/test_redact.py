"""Redaction: secrets in args, kwargs, reprs and error texts are hidden wherever they sit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pytest

from obssched.console._redact import REDACTED, mask_text, redact, safe_value


@dataclass
class Database:
    """A settings object whose repr names its password."""

    user: str
    password: str


class Credentials(NamedTuple):
    """A named tuple with a secret field."""

    user: str
    password: str


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:hunter2@db/prod", f"postgresql://app:{REDACTED}@db/prod"),
        ("postgresql://app:pa/ss@db/prod", f"postgresql://app:{REDACTED}@db/prod"),
        ("postgresql://app:p@ss@db/prod", f"postgresql://app:{REDACTED}@db/prod"),
        ("redis://:hunter2@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("postgresql://app:x://y:z@db/prod", f"postgresql://app:{REDACTED}@db/prod"),
        ("a://u:1@h b://v:2@h", f"a://u:{REDACTED}@h b://v:{REDACTED}@h"),
        ("host=db user=app password=hunter2", f"host=db user=app password={REDACTED}"),
        ("password='a b\\' c' host=db", f"password={REDACTED} host=db"),
        (
            "https://api.example/v1?token=hunter2&page=2",
            f"https://api.example/v1?token={REDACTED}&page=2",
        ),
        ("{'client_secret': 'hunter2', 'n': 1}", f"{{'client_secret': {REDACTED}, 'n': 1}}"),
        ('{"api_key": "hunter2"}', f'{{"api_key": {REDACTED}}}'),
        ("Creds(token=b'hunter 2')", f"Creds(token={REDACTED})"),
    ],
    ids=[
        "url",
        "url-password-with-slash",
        "url-password-with-at",
        "url-without-user",
        "url-in-password",
        "two-urls",
        "libpq-dsn",
        "dsn-quoted-value",
        "query-string",
        "dict-repr",
        "json",
        "bytes-repr",
    ],
)
def test_secrets_inside_text_are_hidden(text: str, shown: str) -> None:
    """URL passwords and ``password=``-style pairs inside any text are replaced."""
    assert mask_text(text) == shown


@pytest.mark.parametrize(
    "text",
    ["http://host:8080/path", "mailto:ops@example.com", "sort_key=3 monkey=1", "retries=3"],
    ids=["url-with-port", "email", "key-like-names", "plain-pair"],
)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    """Ports, addresses and pairs that name no secret are shown as they are."""
    assert mask_text(text) == text


def test_a_url_straddling_the_cut_is_hidden() -> None:
    """A URL cut short by the length bound does not show its password's start."""
    shown = safe_value("x" * 470 + " postgresql://app:supersecretpassword@db/" + "p" * 100)
    assert "supersec" not in shown
    assert shown.endswith("...")


def test_a_url_whose_at_is_beyond_the_scan_is_hidden() -> None:
    """A password longer than the text scanned is hidden to the end."""
    shown = safe_value("postgresql://app:" + "s" * 50_000 + "@db/prod")
    assert shown == f"postgresql://app:{REDACTED}"


def test_a_dataclass_repr_hides_its_password() -> None:
    """A dataclass's repr is shown with its password field's value replaced."""
    assert redact({"cfg": Database("app", "hunter2")}) == {
        "cfg": f"Database(user='app', password={REDACTED})"
    }


def test_a_named_tuple_is_redacted_by_field_name() -> None:
    """A named tuple is shown by field, and its secret fields are replaced."""
    assert redact({"creds": Credentials("app", "hunter2")}) == {
        "creds": {"user": "app", "password": REDACTED}
    }


def test_a_header_pair_hides_its_value() -> None:
    """A ``(name, value)`` pair whose name is a secret's has its value replaced."""
    assert redact({"headers": [("Authorization", "Bearer hunter2"), ("Accept", "*/*")]}) == {
        "headers": [["Authorization", REDACTED], ["Accept", "*/*"]]
    }


def test_a_long_run_of_text_is_masked_quickly_enough_to_finish() -> None:
    """Text built to make a backtracking pattern quadratic is masked all the same."""
    text = "a://b:" * 100_000 + "password" * 100_000
    assert mask_text(text).startswith("a://b:")


class Unprintable:
    """An object whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_a_value_whose_repr_raises_is_named_by_its_type() -> None:
    """A repr that raises is replaced by a placeholder naming the type and the error."""
    assert safe_value(Unprintable()) == "<unprintable Unprintable: RuntimeError>"


def test_a_large_mapping_is_cut_with_a_count() -> None:
    """A mapping with more than 50 items shows 50 and counts the rest."""
    shown = redact({f"k{n}": n for n in range(60)})
    assert len(shown) == 51
    assert shown["..."] == "10 more"
