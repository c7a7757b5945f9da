"""The base of every request model (search.query.request, accounts, shares, tags, the web's
forms): frozen, unknown fields refused, a failed validation one :class:`InvalidInputError` line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import Self

from pixsift.search.errors import InvalidInputError
from pixsift.search.query.problems import describe_validation_error


class Contract(BaseModel):
    """Base of the request models: frozen, unknown fields refused; :meth:`parse` and
    :meth:`parse_json` turn a failed validation into an :class:`InvalidInputError` with one line
    (the first problem, by field name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """From Python values or form strings (lax: ``"10"`` is 10)."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as error:
            raise InvalidInputError(describe_validation_error(error)) from None

    @classmethod
    def parse_json(cls, raw: bytes | str) -> Self:
        """From a JSON document, strictly typed as its JSON schema says (``"10"`` is no
        integer)."""
        try:
            return cls.model_validate_json(raw, strict=True)
        except ValidationError as error:
            raise InvalidInputError(describe_validation_error(error)) from None


class BuiltInCode(Contract):
    """A model the library builds from its callers' values (the CLI's, the web's): a bad value
    is an :class:`InvalidInputError` from the constructor too. (Not for models parsed from JSON:
    a custom ``__init__`` makes pydantic validate them laxly.)"""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise InvalidInputError(describe_validation_error(error)) from None
