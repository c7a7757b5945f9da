"""A validation problem said for a person: one line, the first problem and where it is, in
words rather than pydantic's (``must be at most 1``, ``q: type a few words to search for``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pixsift.search.query.filter_types import NOT_BLANK


def describe_validation_error(error: ValidationError) -> str:
    """One line: the first problem and where it is (never the value itself, which may be huge
    or hostile)."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    message = human_problem(first["type"], first.get("ctx") or {}, where) or str(
        first["msg"]
    ).removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


#: What an empty text means, for the fields where "is empty" says too little.
_BLANK_MESSAGES = {"q": "type a few words to search for"}


def human_problem(kind: str, context: Mapping[str, Any], where: str) -> str | None:
    """A validator's problem said for a person (``must be at most 1`` rather than ``Input
    should be less than or equal to 1``); None for kinds whose own message already reads well
    (the validators of this module write theirs)."""
    if (kind == "string_pattern_mismatch" and context.get("pattern") == NOT_BLANK) or (
        kind == "string_too_short" and context.get("min_length") == 1
    ):
        return _BLANK_MESSAGES.get(where, "is empty")
    if kind == "literal_error":
        choices = str(context.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {choices}"
    templates = {
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "must be yes or no (true or false)",
        "greater_than_equal": "must be at least {ge}",
        "less_than_equal": "must be at most {le}",
        "greater_than": "must be more than {gt}",
        "less_than": "must be less than {lt}",
        "string_too_short": "must be at least {min_length} characters",
        "string_too_long": "must be at most {max_length} characters",
        "too_long": "takes at most {max_length} values",
        "string_pattern_mismatch": "holds characters it may not hold",
        "missing": "is required",
        "extra_forbidden": "is not a known field",
    }
    template = templates.get(kind)
    if template is None:
        return None
    shown = {name: f"{value:g}" if isinstance(value, float) else value
             for name, value in context.items()}  # fmt: skip
    return template.format_map(shown)
