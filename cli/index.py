"""``pixsift index``: registered into the pixsift command line as an entry point."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from pixsift.cli.background_tagging import finish_tagging, log_path, tags_inline
from pixsift.cli.describing import (
    caption_options,
    check_captioner,
    describe_library,
    format_describe_summary,
)
from pixsift.cli.options import (
    library_options,
    model_options,
    open_library,
    reports_errors,
    setting_option,
)
from pixsift.indexer.decoding import default_worker_count
from pixsift.indexer.describing import (
    DEFAULT_DESCRIBE_BATCH,
    captioner_spec,
    describe_enabled,
    remember_describe,
)
from pixsift.indexer.ocr import remember_ocr
from pixsift.indexer.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DECODE_TIMEOUT_SECONDS,
    DEFAULT_VIDEO_TIMEOUT_SECONDS,
    IndexingOptions,
    IndexingSummary,
)
from pixsift.indexer.pipeline import Indexer
from pixsift.search.caption.protocol import CaptionerSpec
from pixsift.search.library import Library
from pixsift.search.media.thumbnails import ThumbnailSizesError, parse_sizes
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.spec import ModelSpec, Runtime, requested_model_spec
from pixsift.search.settings import RAY_CONNECT_TIMEOUT, THUMBNAILS, VIDEO_INTERVAL


def _thumbnail_sizes(_context: click.Context, _parameter: click.Parameter, value: str) -> tuple:
    try:
        return parse_sizes(str(value))
    except ThumbnailSizesError as error:
        raise click.BadParameter(str(error)) from None


@click.command("index")
@click.argument("roots", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(1, 4096)
)
@click.option(
    "--workers",
    default=default_worker_count(),
    show_default=True,
    type=click.IntRange(1, 256),
    help="Decoding processes.",
)
@click.option(
    "--decode-timeout",
    default=DEFAULT_DECODE_TIMEOUT_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds one file may take to decode before it is skipped.",
)
@click.option("--include-hidden", is_flag=True, help="Also index hidden files and folders.")
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Also follow symbolic links that lead out of ROOTS (by default such links are skipped, "
    "so a link cannot bring a private file into the library; links inside ROOTS are followed).",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="Decode and embed on a Ray cluster (pixsift[ray]): its address, or 'auto' for the "
    "one on this machine (a new local one if none runs). Files must be at the same paths on "
    "every node.",
)
@click.option(
    "--ray-actors",
    type=click.IntRange(1, 10_000),
    help="Model replicas on the Ray cluster. Default: one per GPU, else one per CPU.",
)
@setting_option(RAY_CONNECT_TIMEOUT, "--ray-connect-timeout", type=click.FloatRange(min=0.1))
@setting_option(VIDEO_INTERVAL, "--video-interval", type=click.FloatRange(min=0.1))
@click.option(
    "--video/--no-video",
    default=True,
    help="Index videos (MP4, MOV, MKV, WebM, AVI) as moments. --no-video leaves them as they are.",
)
@click.option(
    "--video-timeout",
    default=DEFAULT_VIDEO_TIMEOUT_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds one video may take to sample before it is skipped.",
)
@setting_option(THUMBNAILS, "--thumbnails", callback=_thumbnail_sizes)
@click.option("--progress/--no-progress", default=None, help="Default: on a terminal only.")
@click.option(
    "--ocr/--no-ocr",
    default=None,
    help="Recognise text in the images (Tesseract), so keyword search finds it; remembered by "
    "the library for later runs (default: what the last --ocr/--no-ocr said, else off).",
)
@click.option(
    "--describe/--no-describe",
    default=None,
    help="Describe new pictures in a sentence (a captioner, after embedding), stored and found "
    "by keyword search; remembered by the library for later runs (default: what the last "
    "--describe/--no-describe said, else off).",
)
@caption_options
@click.option(
    "--tags/--no-tags",
    "tag",
    default=True,
    show_default=True,
    help="Tag the library from its embeddings at the end of a run that changed something.",
)
@library_options
@model_options
@reports_errors
def index_command(
    roots: tuple[Path, ...],
    batch_size: int,
    workers: int,
    decode_timeout: float,
    include_hidden: bool,
    follow_symlinks: bool,
    ray_address: str | None,
    ray_actors: int | None,
    ray_connect_timeout: float,
    video_interval: float,
    video: bool,
    video_timeout: float,
    thumbnails: tuple[int, ...],
    progress: bool | None,
    ocr: bool | None,
    tag: bool,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
    **caption: Any,
) -> None:
    """Index the images and videos in ROOTS (recursively, incrementally)."""
    requested = requested_model_spec(model, pretrained, preprocessing_tag)
    with open_library(library, database_url, model_spec=requested) as opened:
        describing = _describing(opened, **caption)
        options = IndexingOptions(
            batch_size=batch_size,
            workers=workers,
            decode_timeout_seconds=decode_timeout,
            include_hidden=include_hidden,
            follow_symlinks=follow_symlinks,
            show_progress=progress,
            index_videos=video,
            video_interval_seconds=float(video_interval),
            video_timeout_seconds=video_timeout,
            thumbnail_sizes=thumbnails,
            ocr=remember_ocr(opened, ocr),
            # Without this model's label embeddings, tagging goes to the background below.
            tag=tag and tags_inline(opened),
        )
        ray = None if ray_address is None else (ray_address, ray_actors, ray_connect_timeout)
        summary = _run_indexer(opened, options, roots, ray)
        child = finish_tagging(opened, summary, tag and not options.tag, database_url)
        described = _describe_pass(opened, describing, options)
    # The whole command, start-up included, as the user waited for it.
    summary.elapsed_seconds = max(summary.elapsed_seconds, process_age_seconds())
    click.echo(format_summary(summary) + described)
    if child is not None:
        click.echo(
            f"tagging in the background (pid {child.pid}, log {log_path(opened)}): the tag "
            "labels are embedded once for this model; search works meanwhile"
        )


def _run_indexer(
    library: Library,
    options: IndexingOptions,
    roots: tuple[Path, ...],
    ray: tuple[str, int | None, float] | None,
) -> IndexingSummary:
    """Index ``roots`` here, or on the Ray cluster ``ray`` names (address, actors, timeout)."""
    spec, runtime = library.model_spec(), library.runtime()
    if ray is not None:
        return _index_on_ray(library, spec, runtime, options, roots, ray)
    return Indexer(
        library,
        None,
        options,
        model_spec=spec,
        embedder_loader=lambda: load_embedder(spec, runtime),
    ).index(list(roots))


def _describe_pass(
    library: Library, describing: CaptionerSpec | None, options: IndexingOptions
) -> str:
    """The describing pass after embedding (--describe): its summary line, or nothing."""
    if describing is None:
        return ""
    summary = describe_library(library, describing, DEFAULT_DESCRIBE_BATCH, options.show_progress)
    return "\n" + format_describe_summary(summary)


def _describing(
    library: Library,
    describe: bool | None,
    caption_model: str | None,
    caption_pretrained: str | None,
) -> CaptionerSpec | None:
    """The captioner of the describing pass when the library describes (--describe), checked
    before anything is indexed: missing weights fail now, and the choice is not remembered."""
    if describe is False or (describe is None and not describe_enabled(library)):
        remember_describe(library, describe)
        return None
    spec = captioner_spec(library, caption_model, caption_pretrained)
    check_captioner(spec)
    remember_describe(library, True)
    return spec


def _index_on_ray(
    library: Library,
    spec: ModelSpec,
    runtime: Runtime,
    options: IndexingOptions,
    roots: tuple[Path, ...],
    ray: tuple[str, int | None, float],
) -> IndexingSummary:
    """Index on the cluster at ``ray`` = (address, actors, seconds to wait for it to answer)."""
    from pixsift.indexer.distributed import RayCluster, RayOptions, ray_loader

    address, actors, connect_timeout = ray
    ray_options = RayOptions(
        address=address, actors=actors, connect_timeout_seconds=connect_timeout
    )
    cluster = RayCluster(ray_loader(spec, runtime), ray_options)
    try:
        indexer = Indexer(
            library,
            None,
            options,
            model_spec=spec,
            embedder_loader=cluster.embedder,
            decode_stage=cluster.stage,
        )
        return indexer.index(list(roots))
    finally:
        cluster.shutdown()


def process_age_seconds() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere since this module was
    imported, which misses the interpreter's own start-up)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            now = float(uptime.read().split()[0])
        return max(0.0, now - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED_AT


_IMPORTED_AT = time.monotonic()


def format_summary(summary: IndexingSummary) -> str:
    return _format_images(summary) + _format_videos(summary)


def _format_videos(summary: IndexingSummary) -> str:
    videos = summary.videos
    if not (videos.indexed or videos.unchanged or videos.failed or videos.removed):
        return ""
    return (
        f"\nvideos: indexed {videos.indexed} ({videos.moments} moments from "
        f"{videos.seconds:.0f} s of video), unchanged {videos.unchanged}, "
        f"removed {videos.removed}, failed {videos.failed}"
    )


def _format_images(summary: IndexingSummary) -> str:
    return (
        f"added {summary.added}, updated {summary.updated}, moved {summary.moved}, "
        f"unchanged {summary.unchanged}, removed {summary.removed}, failed {summary.failed}"
        + (f" (+{summary.still_failing} skipped before)" if summary.still_failing else "")
        + (f"; text read in {summary.ocr_done} images" if summary.ocr_done else "")
        + (f" ({summary.ocr_failed} failed)" if summary.ocr_failed else "")
        + (f"; {summary.tagged} images tagged" if summary.tagged else "")
        + (
            f"; tagging failed, the index is kept ({summary.tagging_failure})"
            if summary.tagging_failure
            else ""
        )
        + f" in {summary.elapsed_seconds:.1f} s ({summary.images_per_second:.1f} images/s)"
    )
