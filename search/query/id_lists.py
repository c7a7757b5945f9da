"""The ids a filter selects, read as one text value rather than one row each.

A filter that keeps most of a million images returned a million rows: each a step of the
database cursor, a driver tuple and a Python int (~1.5 s on a loaded 2-core machine for a bare
``SELECT id``). Aggregated by the database into one comma-separated text (SQLAlchemy's
``aggregate_strings``: SQLite's ``group_concat``, PostgreSQL's ``string_agg``) and parsed by
numpy in C, the same ids cost one row. The aggregate's order is unspecified.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, func

from pixsift.search.records import ImageIdArray

SEPARATOR = ","


def id_list(column: Any) -> Any:
    """The SQL aggregate of ``column`` (integers) over the selected rows as one text (NULL for
    no rows); :func:`parse_id_list` reads it back."""
    return func.aggregate_strings(cast(column, Text), SEPARATOR)


def parse_id_list(text: str | None) -> ImageIdArray:
    """The ids in ``text`` (as :func:`id_list` wrote them), in the text's order."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    with warnings.catch_warnings():
        # numpy warns, then stops, at a value it cannot read: the count below refuses that.
        warnings.simplefilter("ignore", DeprecationWarning)
        ids = np.fromstring(text, dtype=np.int64, sep=SEPARATOR)
    if len(ids) != text.count(SEPARATOR) + 1:  # numpy stops quietly at what it cannot read
        raise ValueError("the database returned an id list that numpy could not read whole")
    return ids
