"""SQLAlchemy 2 models of a pixsift library.

File paths are stored twice on purpose: ``path_bytes`` is the exact file-system name (POSIX names
are bytes and need not be valid UTF-8), used to find the file again; the text column beside it is
for display and matching, with undecodable bytes replaced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    cast,
    column,
    false,
    func,
    select,
    table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Root(Base):
    """A folder the user asked pixsift to index."""

    __tablename__ = "roots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime)
    last_indexed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: Indexed following links out of the folder (the user asked): its files may lie outside.
    follow_symlinks: Mapped[bool] = mapped_column(Boolean, server_default=false())

    images: Mapped[list[Image]] = relationship(back_populates="root", passive_deletes=True)


class Image(Base):
    """One indexed image file. Its id is also its id in the vector index."""

    __tablename__ = "images"
    # Never reuse the id of a deleted image: ids name vectors, thumbnails and URLs. The two
    # indexes let a filter's first request read paths and sizes without the rows (0019).
    __table_args__ = (
        Index("ix_images_relative_path", "relative_path"),
        Index("ix_images_width_height", "width", "height"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"), index=True)
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    relative_path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    camera_make: Mapped[str | None] = mapped_column(Text, nullable=True)
    camera_model: Mapped[str | None] = mapped_column(Text, nullable=True)
    gps_latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    gps_longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    keywords: Mapped[str | None] = mapped_column(Text, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(DateTime)
    #: The file's identity when it was indexed (st_dev, st_ino); NULL for rows indexed before
    #: pixsift recorded it. Serving checks the file it opens is this one.
    device: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    inode: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Set for a moment of a video: the video, and the moment's time in it. A moment's
    #: ``path_bytes`` is the video's name with ``#t=<offset>`` appended (unique per moment);
    #: its size, modification time and relative path are the video's.
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id"), nullable=True, index=True)
    offset_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Where the GPS position lies (GeoNames, resolved offline at index time; search.places).
    place_city: Mapped[str | None] = mapped_column(Text, nullable=True)
    place_region: Mapped[str | None] = mapped_column(Text, nullable=True)
    place_country: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The id of the best copy of this image's burst or RAW+JPEG pair (search.stacks); NULL
    #: when it stands alone.
    stack_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: The picture's BlurHash, made at index time (search.media.thumbnails): what a page paints
    #: before the thumbnail arrives. NULL for rows indexed before it was kept (migration 0015).
    placeholder: Mapped[str | None] = mapped_column(String(64), nullable=True)

    root: Mapped[Root] = relationship(back_populates="images")


#: The place filter compares names in any case (search.query.filters): one index per place
#: column on its lower-case form, so "place=Lisbon" reads a few index entries, not every row
#: (migration 0017).
PLACE_INDEXES = tuple(
    Index(f"ix_images_{column.key}_lower", func.lower(column))
    for column in (Image.place_city, Image.place_region, Image.place_country)
)


class Video(Base):
    """A video file indexed as moments (rows of ``images``), or skipped with a reason."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"), index=True)
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    relative_path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float] = mapped_column(Float)
    #: Why the video could not be indexed (it then has no moments); null when it was.
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(DateTime)


#: The index generation the inserting transaction commits (the stored one plus one), computed
#: inside the INSERT itself so that every writer (ORM, Core bulk inserts, future tools) stamps
#: its rows without knowing: readers find the vectors a published index lacks by this stamp.
_STATE = table("library_state", column("key", String), column("value", Text))
NEXT_INDEX_GENERATION = (
    func.coalesce(
        select(cast(_STATE.c.value, Integer))
        .where(_STATE.c.key == "index_generation")
        .scalar_subquery(),
        0,
    )
    + 1
)


class Embedding(Base):
    """An image's embedding under one model, as little-endian float16 bytes (half the size of
    float32, and far below the precision that cosine ranking can notice)."""

    __tablename__ = "embeddings"
    __table_args__ = (Index("ix_embeddings_model_generation", "model_id", "generation"),)

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    #: The index generation that wrote this vector (see NEXT_INDEX_GENERATION).
    generation: Mapped[int] = mapped_column(
        Integer, default=NEXT_INDEX_GENERATION, server_default="0"
    )


class Failure(Base):
    """A file the indexer skipped, with the reason; retried only once the file changes."""

    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"), index=True)
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    failed_at: Mapped[datetime] = mapped_column(DateTime)


class LibraryState(Base):
    """Small key/value facts about the library: its model, the index generation."""

    __tablename__ = "library_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImageTag(Base):
    """A word describing an image. ``source`` keeps automatic tags apart from the user's:
    "auto" (zero-shot tagging wrote it; re-tagging replaces it), "manual" (the user added it;
    re-tagging never touches it), "removed" (the user took it away; re-tagging does not bring
    it back, and it is not shown)."""

    __tablename__ = "image_tags"
    __table_args__ = (Index("ix_image_tags_tag", "tag", "source"),)

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    #: The label's cosine similarity to the image, for automatic tags.
    score: Mapped[float | None] = mapped_column(Float, nullable=True)


class ImageText(Base):
    """The text recognised in an image (OCR), or why recognising it failed. One row per image
    that OCR has run on: an image without a row is still to do."""

    __tablename__ = "image_text"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text, default="")
    #: None when recognition worked; else the reason it failed (the embedding is kept).
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    engine: Mapped[str] = mapped_column(String(64))
    recognised_at: Mapped[datetime] = mapped_column(DateTime)


class ImageDescription(Base):
    """A sentence describing an image: generated by a captioner (``source`` "generated", named
    by ``captioner``) or written by hand ("manual", never overwritten by a captioner). One row
    per described image: an image without a row, or with one another captioner generated, is
    still to describe."""

    __tablename__ = "image_descriptions"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text, default="")
    #: None when describing worked; else why it failed (the picture is kept, and not retried
    #: by the same captioner).
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    captioner: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="generated")
    described_at: Mapped[datetime] = mapped_column(DateTime)
