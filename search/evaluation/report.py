"""The evaluation's figures, declared once: the JSON report and the table are made from them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel, Field

RECALL_AT = (1, 5, 10)


class QueryResult(BaseModel):
    """One caption searched: where its picture came."""

    caption: str
    path: str
    rank: int | None = Field(description="1-based rank of the picture; null: not in the depth.")
    first: list[str] = Field(description="The first three results (paths below their roots).")
    kept: bool = Field(
        description="Whether the default list, which stops where matches end, shows it."
    )
    shown: int = Field(description="Results the default list shows (up to the depth).")
    calibrated: bool = Field(description="Whether the library could calibrate the query.")


class DirectionFigures(BaseModel):
    queries: int
    recall: dict[str, float] = Field(description="R@1, R@5, R@10: share found that high.")
    median_rank: float | None = Field(
        description="Median rank (misses count as depth + 1); null when over the depth."
    )


class ModeFigures(DirectionFigures):
    """Text to image in one search mode."""

    mode: str
    cutoff_recall: float | None = Field(
        description="Share of captions whose picture the default list keeps (null when the "
        "library is too small to calibrate)."
    )
    cutoff_shown: float | None = Field(description="Mean length of the default list.")
    worst: list[QueryResult] = Field(description="The captions whose picture came lowest.")
    #: Each caption's rank, in the captions' order (for comparing modes; not in the JSON).
    ranks: list[int | None] = Field(default_factory=list, exclude=True)

    @classmethod
    def from_results(
        cls, mode: str, results: Sequence[QueryResult], depth: int, worst: int
    ) -> ModeFigures:
        figures = direction_figures([result.rank for result in results], depth)
        calibrated = [result for result in results if result.calibrated]
        ordered = sorted(results, key=lambda r: (r.rank is not None, -(r.rank or 0), r.caption))
        return cls(
            **figures.model_dump(),
            mode=mode,
            cutoff_recall=_share([r.kept for r in calibrated]) if calibrated else None,
            cutoff_shown=(
                round(statistics.fmean(r.shown for r in calibrated), 2) if calibrated else None
            ),
            worst=[result for result in ordered[:worst] if result.rank != 1],
            ranks=[result.rank for result in results],
        )


class EvaluationReport(BaseModel):
    captions_file: str
    captions: int = Field(description="Captions evaluated (those whose picture is indexed).")
    pictures: int = Field(description="Distinct pictures they describe.")
    missing: list[str] = Field(description="Paths of the captions file not in the library.")
    depth: int = Field(description="How far down each result list was read.")
    text_to_image: list[ModeFigures]
    image_to_text: DirectionFigures | None = Field(
        description="Each picture's stored embedding against every caption (the same in "
        "every mode: no search engine ranks captions)."
    )


def _share(flags: Sequence[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def direction_figures(ranks: Sequence[int | None], depth: int) -> DirectionFigures:
    recall = {
        f"R@{k}": _share([rank is not None and rank <= k for rank in ranks]) for k in RECALL_AT
    }
    median = statistics.median(depth + 1 if rank is None else rank for rank in ranks)
    return DirectionFigures(
        queries=len(ranks), recall=recall, median_rank=None if median > depth else float(median)
    )


def format_table(report: EvaluationReport) -> str:
    """The report as a plain-text table, then the worst queries of each mode."""
    header = f"{'direction':<16}{'mode':<10}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'median':>8}"
    header += f"{'kept':>7}{'shown':>7}"
    lines = [
        f"{report.captions} captions of {report.pictures} pictures ({report.captions_file})",
        header,
    ]
    for mode in report.text_to_image:
        lines.append(_row("text->image", mode.mode, mode, mode.cutoff_recall, mode.cutoff_shown))
    if report.image_to_text is not None:
        lines.append(_row("image->text", "-", report.image_to_text, None, None))
    for mode in report.text_to_image:
        if mode.worst:
            lines.append(f"worst queries ({mode.mode}):")
        for result in mode.worst:
            rank = f"#{result.rank}" if result.rank is not None else f">{report.depth}"
            first = ", ".join(result.first) or "nothing"
            lines.append(f"  {rank:>5}  {result.caption!r} -> {result.path} (first: {first})")
    if report.missing:
        shown = ", ".join(report.missing[:5])
        more = f" and {len(report.missing) - 5} more" if len(report.missing) > 5 else ""
        lines.append(f"not in the library: {len(report.missing)} paths: {shown}{more}")
    return "\n".join(lines)


def _row(
    direction: str,
    mode: str,
    figures: DirectionFigures,
    kept: float | None,
    shown: float | None,
) -> str:
    recall = "".join(f"{figures.recall[f'R@{k}']:>7.3f}" for k in RECALL_AT)
    median = "-" if figures.median_rank is None else f"{figures.median_rank:g}"
    kept_text = "-" if kept is None else f"{kept:.3f}"
    shown_text = "-" if shown is None else f"{shown:g}"
    return f"{direction:<16}{mode:<10}{recall}{median:>8}{kept_text:>7}{shown_text:>7}"
