"""Grouping the moments of one video in a ranking: the video's best moment takes its place in
the results, the video's other moments join it there and take no other result slot. Photos keep
their places; the order of what is kept is the ranking's."""

from __future__ import annotations

from collections.abc import Mapping

from pixsift.search.query.rank import Ranking


def group_moments(
    ranking: Ranking, video_of: Mapping[int, int]
) -> tuple[Ranking, dict[int, Ranking]]:
    """``ranking`` with one item per video (its best moment), and for each kept moment, its
    video's moments in ranking order (itself first). ``video_of`` maps moments to videos."""
    kept: Ranking = []
    groups: dict[int, Ranking] = {}
    leader_of_video: dict[int, int] = {}
    for image_id, score in ranking:
        video_id = video_of.get(image_id)
        if video_id is None:
            kept.append((image_id, score))
            continue
        leader = leader_of_video.setdefault(video_id, image_id)
        if leader == image_id:
            kept.append((image_id, score))
        groups.setdefault(leader, []).append((image_id, score))
    return kept, groups
