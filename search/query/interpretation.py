"""How a query's text was read (search.query.interpret): the words searched by meaning and the
words that became place and date filters. Declared apart so the request contract can name it
without importing the interpreter."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class InterpretedPart(BaseModel):
    """Words of the query read as a filter."""

    kind: Literal["place", "date", "month"]
    words: str = Field(description="The words as the query gave them, e.g. 'in Lisbon'.")
    filters: dict[str, Any] = Field(
        description="The filter they became, e.g. {'place': 'Lisbon'} or {'after': ..., "
        "'before': ...}."
    )


class QueryInterpretation(BaseModel):
    """How the query's text was read: the words matched by meaning, and the filters."""

    text: str = Field(description="The words searched by meaning.")
    parts: list[InterpretedPart] = Field(description="Words read as filters, in query order.")
