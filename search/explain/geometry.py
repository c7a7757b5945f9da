"""Where the model's square input lies in the original picture.

The embedding sees the picture after open_clip's evaluation transform (search.model.pixels): the
shorter side resized to the model's size, then a centred square crop (or, SigLIP's "squash", both
sides resized to the square). Both steps scale or shift
each axis, so a box in model pixels maps back onto the picture as an affine map per axis. The
picture is the one the indexer decoded: EXIF orientation applied (so the coordinates are those
of the picture as it is shown), and for a JPEG perhaps decoded at a reduced DCT scale, which the
map undoes by scaling to the picture's full shown size.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.search.model.pixels import PixelPlan

#: left, top, right, bottom.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class CropGeometry:
    """The model input's square of ``size`` pixels, placed on a picture of ``width`` x ``height``
    (shown size)."""

    size: int
    width: int
    height: int
    #: Original pixels per model pixel, along x and along y.
    scale_x: float
    scale_y: float
    #: Where model pixel (0, 0) lies on the picture.
    left: float
    top: float

    @classmethod
    def of(cls, plan: PixelPlan, decoded: tuple[int, int], shown: tuple[int, int]) -> CropGeometry:
        """The geometry of ``plan`` applied to a decoded picture of size ``decoded`` that is
        shown at ``shown`` (larger when a JPEG was decoded at a reduced scale)."""
        width, height = decoded
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = plan.size, int(plan.size * long / short)
        resized = (new_short, new_long) if width <= height else (new_long, new_short)
        if plan.resize_mode == "squash":  # both sides stretched onto the square, nothing cut
            resized = (plan.size, plan.size)
        # The same arithmetic as PixelPlan.resize_and_crop, so the map is exact.
        crop_left = round((resized[0] - plan.size) / 2.0)
        crop_top = round((resized[1] - plan.size) / 2.0)
        scale_x = shown[0] / resized[0]
        scale_y = shown[1] / resized[1]
        return cls(
            size=plan.size,
            width=shown[0],
            height=shown[1],
            scale_x=scale_x,
            scale_y=scale_y,
            left=crop_left * scale_x,
            top=crop_top * scale_y,
        )

    def to_original(self, box: Box) -> Box:
        """A box in model pixels as a box on the picture."""
        x0, y0, x1, y1 = box
        return (
            self.left + x0 * self.scale_x,
            self.top + y0 * self.scale_y,
            self.left + x1 * self.scale_x,
            self.top + y1 * self.scale_y,
        )

    @property
    def crop_box(self) -> Box:
        """The part of the picture the model sees."""
        return self.to_original((0, 0, self.size, self.size))


def cell_edges(size: int, grid: int) -> list[int]:
    """The model-pixel edges of ``grid`` cells across ``size`` pixels (equal cells when the grid
    divides the size, as a ViT's patch grid does)."""
    return [round(index * size / grid) for index in range(grid + 1)]
