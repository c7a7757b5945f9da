"""Rankings and what is done to them: reciprocal-rank fusion, a minimum score, date order and
the page window. Pure functions over ``(image id, score)`` lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

#: Image ids with their score, best first.
Ranking = list[tuple[int, float]]
RECIPROCAL_RANK_CONSTANT = 60


def reciprocal_rank_scores(image_ids: Sequence[int]) -> Ranking:
    """A ranked id list scored 1/(60 + rank), the scale fusion works on."""
    return [
        (image_id, 1.0 / (RECIPROCAL_RANK_CONSTANT + rank))
        for rank, image_id in enumerate(image_ids, 1)
    ]


def fuse(*rankings: Ranking) -> Ranking:
    """Reciprocal-rank fusion: each list adds 1/(60 + rank); ties go to the smaller id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (image_id, _) in enumerate(ranking, 1):
            fused[image_id] = fused.get(image_id, 0.0) + 1.0 / (RECIPROCAL_RANK_CONSTANT + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse_weighted(*weighted: tuple[Ranking, float]) -> Ranking:
    """Weighted reciprocal-rank fusion: each list adds weight/(60 + rank); ties go to the
    smaller id. With weights of 1 it is :func:`fuse`."""
    fused: dict[int, float] = {}
    for ranking, weight in weighted:
        for rank, (image_id, _) in enumerate(ranking, 1):
            fused[image_id] = fused.get(image_id, 0.0) + weight / (RECIPROCAL_RANK_CONSTANT + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def at_least(ranking: Ranking, similarities: dict[int, float], min_score: float) -> Ranking:
    """The items whose cosine similarity reaches ``min_score`` (unknown counts as -1)."""
    return [item for item in ranking if similarities.get(item[0], -1.0) >= min_score]


def by_date(ranking: Ranking, date_of: Callable[[int], datetime | None]) -> Ranking:
    """Newest first (ties: the smaller id first); items without a date are dropped."""
    dated = [(item, date_of(item[0])) for item in ranking]
    ordered = sorted(
        ((item, date) for item, date in dated if date is not None),
        key=lambda pair: (pair[1], -pair[0][0]),
        reverse=True,
    )
    return [item for item, _ in ordered]


def window(
    ranking: Ranking, offset: int, k: int, max_results: int, after: Sequence[int] = ()
) -> tuple[Ranking, int | None]:
    """The page of ``k`` from ``resume_at(ranking, offset, after)`` and the next page's offset
    (None on the last page)."""
    start = resume_at(ranking, offset, after)
    end = start + k
    next_offset = end if len(ranking) > end and end < max_results else None
    return ranking[start:end], next_offset


def resume_at(ranking: Ranking, offset: int, after: Sequence[int]) -> int:
    """Where a next page starts: right after the last of ``after`` (the previous page's last
    ids) still in the ranking; ``offset`` when none is. A picture hidden since the previous page
    moves everything after it up by one, so the offset alone would skip a picture."""
    positions = {image_id: i for i, (image_id, _) in enumerate(ranking[: offset + len(after) + 1])}
    for image_id in reversed(after):
        if image_id in positions:
            return positions[image_id] + 1
    return offset
