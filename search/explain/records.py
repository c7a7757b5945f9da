"""The explanation of one match, declared once: the API's JSON, the CLI's ``--json`` and the
cache file are this model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Box = tuple[float, float, float, float]


class ExplanationCell(BaseModel):
    """One cell of the grid: where it lies on the picture and what blanking it costs."""

    model_config = ConfigDict(frozen=True)

    row: int = Field(ge=0)
    col: int = Field(ge=0)
    box: Box = Field(description="left, top, right, bottom in the picture's pixels (as shown).")
    drop: float = Field(
        description="How much the score drops without this cell: positive where the cell "
        "raises the match, negative where it lowers it. Method insertion: the score of the "
        "cell shown alone (the rest filled with the picture's median colour) minus the score "
        "of the plain fill; method occlusion: the base score minus the score with the cell "
        "blanked."
    )
    measured: bool = Field(
        default=True,
        description="False where the cell was not measured alone (coarse to fine): its drop "
        "is its coarse block's, shared equally among the block's cells.",
    )


class Explanation(BaseModel):
    """Which regions of a picture raise its cosine similarity to a query, over the image
    tower's patch grid: each region shown alone on the picture's median colour (insertion),
    blocks of cells first and then the cells of the best blocks (search.explain.refine)."""

    model_config = ConfigDict(frozen=True)

    method: Literal["insertion", "occlusion"] = "insertion"
    image_id: int | None = Field(description="The indexed image (null for a file).")
    model_id: str
    width: int = Field(description="The picture's width as shown (EXIF orientation applied).")
    height: int = Field(description="The picture's height as shown.")
    model_size: int = Field(description="Side of the model's square input, in pixels.")
    grid: int = Field(description="Cells per side (the tower's patch grid).")
    crop_box: Box = Field(
        description="The part of the picture the model sees (resize, then centre crop): "
        "left, top, right, bottom in the picture's pixels."
    )
    base_score: float = Field(description="Cosine similarity of the whole picture to the query.")
    drops: list[list[float]] = Field(
        description="Each cell's drop (see the cells), row by row (grid x grid)."
    )
    cells: list[ExplanationCell] = Field(description="The cells row by row, with their boxes.")

    def ranked_cells(self) -> list[ExplanationCell]:
        """The cells, the one whose blanking costs most first."""
        return sorted(self.cells, key=lambda cell: cell.drop, reverse=True)
