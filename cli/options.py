"""Options and error handling shared by every ``pixsift`` command."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from search import settings
from search.errors import PixsiftError
from search.library import Library

F = TypeVar("F", bound=Callable[..., Any])


def setting_option(setting: settings.Setting, *flags: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option whose default, help and environment variable come from ``setting``."""
    return click.option(
        *flags,
        setting.name,
        default=setting.default,
        envvar=setting.environment_variable,
        show_envvar=True,
        help=setting.help,
        **kwargs,
    )


def library_options(function: F) -> F:
    function = setting_option(settings.DATABASE_URL, "--database-url")(function)
    function = setting_option(
        settings.LIBRARY, "--library", type=click.Path(file_okay=False, path_type=Path)
    )(function)
    return function


def model_options(function: F) -> F:
    function = setting_option(settings.PREPROCESSING_TAG, "--preprocessing-tag")(function)
    function = setting_option(settings.PRETRAINED, "--pretrained")(function)
    function = setting_option(settings.MODEL, "--model")(function)
    return function


def open_library(library: Path | None, database_url: str | None, **kwargs: Any) -> Library:
    return Library.open(library, database_url=database_url, **kwargs)


def reports_errors(function: F) -> F:
    """Turn pixsift errors into one line on stderr and exit status 1, not a traceback."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PixsiftError as error:
            raise click.ClickException(error.message) from error

    return wrapper  # type: ignore[return-value]
