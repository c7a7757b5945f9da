"""The one place that turns a parsed search into result data.

The search page and the JSON API both make a :class:`SearchQuery` from the same
:class:`web.schemas.SearchParams` and call :func:`build_search_results`; they differ only in how
they render the returned data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flask import current_app, g, url_for
from werkzeug.datastructures import FileStorage

from pixsift.search.albums import Albums
from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.media.imagefile import LoadedImage
from pixsift.search.media.thumbnails import PREVIEW_SIDE, SIZED_SIDES, placeholder_colour
from pixsift.search.query.request import (
    MAX_AFTER,
    MAX_RESULTS,
    QueryTerm,
    SearchPage,
    SearchRequest,
)
from pixsift.search.query.timing import collect_stages, stage
from pixsift.search.query.timing import logger as stage_logger
from pixsift.search.records import ImageRecord, MomentHit, SearchHit
from pixsift.search.visibility import visible_record
from pixsift.web.auth import principal, visibility
from pixsift.web.schemas import (
    HitOut,
    ImageOut,
    MomentOut,
    QueryEcho,
    SearchParams,
    SearchResults,
    dump,
)
from pixsift.web.uploads import read_upload

#: Parameters that name the subject or the page rather than options of the search.
SUBJECT_FIELDS = frozenset({"q", "image_id", "k", "cursor"})


@dataclass(frozen=True)
class SearchQuery:
    """One search: the parameters as given, the page, and the uploaded image if any."""

    params: SearchParams
    k: int
    offset: int = 0
    upload: LoadedImage | None = None
    upload_path: Path | None = None
    #: The previous page's last ids, from the cursor (SearchRequest.after).
    after: tuple[int, ...] = ()

    @property
    def text(self) -> str | None:
        return self.params.q

    @property
    def image_id(self) -> int | None:
        return self.params.image_id

    @property
    def terms(self) -> tuple[Any, ...]:
        return self.params.terms

    @property
    def kind(self) -> str:
        subjects = [self.text, self.image_id, self.upload, self.terms or None]
        given = [subject is not None for subject in subjects]
        if sum(given) != 1:
            return "combined"
        return ("text", "image_id", "image", "combined")[given.index(True)]

    def options(self) -> dict[str, Any]:
        """Everything but the subject and the page that differs from the defaults."""
        return self.params.model_dump(mode="json", exclude_defaults=True, exclude=SUBJECT_FIELDS)

    @property
    def fingerprint(self) -> str:
        subject = {"q": self.text, "image_id": self.image_id}
        if self.upload is not None:
            subject["image"] = self.upload.content_hash
        text = json.dumps([subject, self.options()], sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def url_params(self) -> dict[str, Any]:
        """Query-string parameters (besides q, image_id, k and cursor) that repeat this search."""
        options = self.options()
        options.pop("terms", None)
        return {
            name: ("true" if value else "false") if isinstance(value, bool) else value
            for name, value in options.items()
        }

    def echo(self) -> QueryEcho:
        params = self.params
        return QueryEcho(
            type=self.kind,  # type: ignore[arg-type]
            q=params.q,
            image_id=params.image_id,
            k=self.k,
            offset=self.offset,
            mode=params.mode,
            order=params.order,
            min_score=params.min_score,
            collapse=params.collapse,
            weaker=params.weaker,
            match_probability=params.match_probability,
            exclude=params.exclude,
            terms=list(params.terms),
            filters=params.filters(),
        )

    def search_request(self) -> SearchRequest:
        params = self.params
        terms: list[QueryTerm] = []
        if params.q is not None:
            terms.append(QueryTerm(text=params.q))
        if params.image_id is not None:
            terms.append(QueryTerm(image_id=params.image_id))
        if self.upload_path is not None:
            terms.append(QueryTerm(image_path=self.upload_path))
        terms += [QueryTerm(**term.model_dump(exclude_defaults=True)) for term in params.terms]
        if params.exclude is not None:
            terms.append(QueryTerm(text=params.exclude, weight=-1.0))
        return SearchRequest(
            tuple(terms),
            filters=params.filters(),
            mode=params.mode,
            k=self.k,
            offset=self.offset,
            after=self.after,
            min_score=params.min_score,
            order=params.order,
            collapse=params.collapse,
            weaker=params.weaker,
            match_probability=params.match_probability,
            interpret=params.interpret,
            stacks=params.stacks,
        )


def make_search_query(
    params: SearchParams, upload: FileStorage | None = None, *, image_id: int | None = None
) -> SearchQuery | None:
    """The search ``params`` (and an upload, or an image id from the URL path) describe; None
    when they hold no query at all (an empty search page)."""
    if image_id is not None:
        if params.image_id is not None or params.q is not None:
            raise InvalidInputError("the image id is in the path: give neither q nor image_id")
        params = params.model_copy(update={"image_id": image_id})
    if params.q is None and params.image_id is None and upload is None and not params.terms:
        return None
    if upload is not None and params.image_id is not None:
        raise InvalidInputError(
            "give one query: q (a text, optionally with an uploaded image), image_id, "
            "or an uploaded image"
        )
    k = params.k or int(current_app.config["PAGE_SIZE"])
    loaded, path = read_upload(upload) if upload is not None else (None, None)
    query = SearchQuery(params=params, k=k, upload=loaded, upload_path=path)
    if params.cursor is not None:
        cursor = decode_cursor(params.cursor, query.fingerprint)
        query = replace(query, offset=cursor.offset, after=cursor.after)
    return query


def require_query(query: SearchQuery | None) -> SearchQuery:
    if query is None:
        raise InvalidInputError("the search is empty: give q (a text), image_id, or an image")
    return query


# Cursors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageCursor:
    """Where the next page starts: the offset, and the previous page's last ids (so a picture
    hidden in between does not shift the page; SearchRequest.after)."""

    offset: int
    after: tuple[int, ...] = ()


def encode_cursor(offset: int, fingerprint: str, after: Sequence[int] = ()) -> str:
    fields: dict[str, Any] = {"offset": offset, "query": fingerprint}
    if after:
        fields["after"] = list(after)[-MAX_AFTER:]
    raw = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> PageCursor:
    """The page a cursor stands for; it must have been made for the same query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidInputError("cursor is not valid") from None
    offset = data.get("offset") if isinstance(data, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInputError("cursor is not valid")
    if data.get("query") != fingerprint:
        raise InvalidInputError("cursor belongs to another query")
    if offset >= MAX_RESULTS:
        raise InvalidInputError(f"cursor is past the last result pixsift returns ({MAX_RESULTS})")
    after = data.get("after", [])
    if not (
        isinstance(after, list)
        and len(after) <= MAX_AFTER
        and all(isinstance(i, int) and not isinstance(i, bool) for i in after)
    ):
        raise InvalidInputError("cursor is not valid")
    return PageCursor(offset, tuple(after))


# Building results ----------------------------------------------------------------------------


def run_query(library: Library, query: SearchQuery) -> SearchPage | None:
    """The page of hits for ``query``; None while the library holds no embeddings."""
    if query.image_id is not None:
        library.image(query.image_id)  # NotFoundError (404) for an unknown id
    for term in query.terms:
        if term.image_id is not None:
            library.image(term.image_id)
    if query.params.album is not None:
        # The album filter names an album the caller may see (else: unknown, 404).
        Albums(library.store, principal()).get(query.params.album)
    if library.store.model_id() is None:
        return None
    return library.find(query.search_request(), places=visibility().gps)


def build_search_results(library: Library, query: SearchQuery) -> dict[str, Any]:
    """Run ``query`` and return the page of results as JSON-ready data (the API's field
    names)."""
    started = time.perf_counter()
    with collect_stages() as times, library.store.reading():
        page = run_query(library, query)
        with stage("serialise"):
            hits = page.hits if page is not None else []
            next_offset = page.next_offset if page is not None else None
            last_ids = [hit.image.id for hit in hits[-MAX_AFTER:]]
            next_cursor = (
                encode_cursor(next_offset, query.fingerprint, last_ids) if next_offset else None
            )
            results = SearchResults(
                query=query.echo(),
                results=[hit_out(hit) for hit in hits],
                took_ms=round((time.perf_counter() - started) * 1000, 2),
                next_cursor=next_cursor,
                next=_next_url(query, next_cursor),
                interpretation=page.interpretation if page is not None else None,
            )
            answer = dump(results)
    # The engine logged its own stages; this line adds serialising the page for the API.
    stage_logger.debug("api search stages (ms): %s", times.summary())
    return answer


def _next_url(query: SearchQuery, cursor: str | None) -> str | None:
    if cursor is None or query.upload is not None or query.terms:
        return None  # an uploaded image or a JSON body must be sent again, with next_cursor
    params = {**query.url_params(), "k": query.k, "cursor": cursor}
    if query.text is not None:
        return url_for("api.search", q=query.text, **params)
    return url_for("api.similar", image_id=query.image_id, **params)


#: Stand-ins url_for builds each picture URL around once per request; every picture's URLs are
#: then these templates with its id and version put in (url_for took ~55 us a picture, 8 calls).
_ID_STAND_IN = 918273645546372819
_VERSION_STAND_IN = "vvvvvvvvvvvvvvvv"


def image_urls(image_id: int, content_hash: str) -> dict[str, str]:
    templates = g.get("_image_url_templates")
    if templates is None:
        templates = g._image_url_templates = _url_templates()
    version, stand_in = content_hash[:16], str(_ID_STAND_IN)
    return {
        name: template.replace(stand_in, str(image_id)).replace(_VERSION_STAND_IN, version)
        for name, template in templates.items()
    }


def _url_templates() -> dict[str, str]:
    image_id, version = _ID_STAND_IN, _VERSION_STAND_IN
    sized = {side: url_for("images.sized", image_id=image_id, side=side, v=version)
             for side in SIZED_SIDES}  # fmt: skip
    return {
        "thumbnail_url": url_for("images.thumbnail", image_id=image_id, v=version),
        "thumbnail_srcset": ", ".join(f"{sized[side]} {side}w" for side in SIZED_SIDES[:3]),
        "preview_url": sized[PREVIEW_SIDE],
        "image_url": url_for("images.original", image_id=image_id, v=version),
        "similar_url": url_for("api.similar", image_id=image_id),
        "page_url": url_for("pages.image_page", image_id=image_id),
    }


def _image_data(image: ImageRecord) -> dict[str, Any]:
    urls = image_urls(image.id, image.content_hash)
    if image.offset_s is not None:
        urls["play_url"] = play_url(urls["image_url"], image.offset_s)
    urls["placeholder_colour"] = placeholder_colour(image.placeholder)
    # What the caller may see: a viewer gets no server paths (and no GPS if so set).
    shown = visible_record(image, visibility())
    return {**shown.model_dump(), **urls}


def play_url(video_url: str, offset_s: float) -> str:
    """The video's URL with a media fragment that starts playback at ``offset_s``."""
    return f"{video_url}#t={offset_s:.3f}"


def moment_out(moment: MomentHit) -> MomentOut:
    data = _image_data(moment.image)
    return MomentOut(
        id=moment.image.id,
        offset_s=moment.image.offset_s or 0.0,
        score=round(moment.score, 6),
        thumbnail_url=data["thumbnail_url"],
        page_url=data["page_url"],
        play_url=data["play_url"],
    )


def image_out(image: ImageRecord) -> ImageOut:
    return ImageOut.model_validate(_image_data(image))


def image_json(image: ImageRecord) -> dict[str, Any]:
    return dump(image_out(image))


def hit_out(hit: SearchHit) -> HitOut:
    date, date_source = hit.date_with_source()
    similarity = None if hit.similarity is None else round(hit.similarity, 6)
    return HitOut.model_validate(
        {
            **_image_data(hit.image),
            "score": round(hit.score, 6),
            "similarity": similarity,
            "relevance": None if hit.relevance is None else round(hit.relevance, 3),
            "band": hit.band,
            "probability": None if hit.probability is None else round(hit.probability, 4),
            "date": date,
            "date_source": date_source,
            "moments": [moment_out(moment) for moment in hit.moments],
            "stack": list(hit.stack),
            "stack_count": max(1, len(hit.stack)),
        }
    )
