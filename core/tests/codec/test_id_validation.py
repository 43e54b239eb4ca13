"""Ids that reach a path or a query: safe ones pass unchanged, every unsafe form is refused."""

from __future__ import annotations

from typing import Any

import pytest

from framework.errors import InvalidIdError
from framework.schemas.ids import (
    validate_checkpoint_id,
    validate_id,
    validate_node_id,
    validate_run_id,
)

GOOD = [
    "run-1",
    "a",
    "run_2024-01-01T10:00:00",
    "user@example.com",
    "v1.2.3",
    "A+B",
    "ckpt_run-1_node.a_000001",
    "x" * 128,
    "9lives",
    "_private",
]

BAD: dict[str, tuple[Any, str]] = {
    "parent traversal": ("../x", "'..'"),
    "embedded traversal": ("a..b", "'..'"),
    "absolute posix path": ("/etc/passwd", "separator"),
    "slash": ("a/b", "separator"),
    "backslash": ("a\\b", "separator"),
    "windows absolute": ("C:\\Windows", "separator"),
    "drive prefix": ("C:evil", "drive"),
    "NUL": ("run\x00", "control"),
    "newline": ("run\n1", "control"),
    "tab": ("run\t1", "control"),
    "DEL": ("run\x7f", "control"),
    "space": ("my run", "whitespace"),
    "non-breaking space": ("my\u00a0run", "whitespace"),
    "empty": ("", "empty"),
    "too long": ("x" * 129, "at most 128"),
    "leading dot": (".hidden", "start with '.'"),
    "dot alone": (".", "start with '.'"),
    "leading dash": ("-rf", "start with '-'"),
    "trailing dot": ("run.", "end with '.'"),
    "windows device": ("CON", "device"),
    "windows device with extension": ("nul.json", "device"),
    "unicode letter": ("rün", "character 'ü'"),
    "shell character": ("run$1", "character '$'"),
    "glob": ("run*", "character '*'"),
    "percent": ("%2e%2e", "character '%'"),
    "not a string": (42, "must be a string"),
    "bytes": (b"run", "must be a string"),
    "none": (None, "must be a string"),
}


@pytest.mark.parametrize("value", GOOD)
def test_safe_ids_are_returned_unchanged(value: str) -> None:
    assert validate_id(value) == value
    assert validate_run_id(value) == value
    assert validate_node_id(value) == value
    assert validate_checkpoint_id(value) == value


@pytest.mark.parametrize(("value", "reason"), BAD.values(), ids=BAD.keys())
def test_unsafe_ids_are_refused_with_the_reason(value: Any, reason: str) -> None:
    with pytest.raises(InvalidIdError) as caught:
        validate_run_id(value)
    assert reason in str(caught.value)
    assert str(caught.value).startswith("invalid run id")


def test_error_names_the_kind_of_id() -> None:
    with pytest.raises(InvalidIdError, match=r"^invalid node id '\.\./x'"):
        validate_node_id("../x")
    with pytest.raises(InvalidIdError, match=r"^invalid ticket"):
        validate_id("", kind="ticket")


def test_checkpoint_ids_may_be_longer_but_not_unbounded() -> None:
    assert validate_checkpoint_id("c" * 300) == "c" * 300
    with pytest.raises(InvalidIdError, match="at most 300"):
        validate_checkpoint_id("c" * 301)
    with pytest.raises(InvalidIdError, match="at most 128"):
        validate_run_id("c" * 200)


def test_invalid_id_error_is_a_value_error_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError):
        validate_run_id("a/b")


def test_long_refused_id_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidIdError) as caught:
        validate_run_id("y" * 5000)
    assert len(str(caught.value)) < 300
