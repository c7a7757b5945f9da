"""Options and error handling shared by every ``pixsift`` command."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from pixsift.search import settings
from pixsift.search.errors import PixsiftError
from pixsift.search.library import Library

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
    function = setting_option(settings.MODEL, "--model", callback=_absolute_pack_path)(function)
    return function


def _absolute_pack_path(context: click.Context, parameter: click.Parameter, value: Any) -> Any:
    """A model pack named by a path is stored with the library: absolute, so that a later run
    from another folder finds it."""
    if value and Path(str(value)).expanduser().exists():
        return str(Path(str(value)).expanduser().resolve())
    return value


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


def model_field_options(model: type[BaseModel]) -> Callable[[F], F]:
    """One click option per field of ``model``, with the field's name (dashed), type, bounds,
    choices and description as help: the CLI declares no filter of its own. The command gets
    the values as keyword arguments named like the fields; :meth:`Contract.parse` validates
    them (a refused value is a one-line error)."""
    properties = model.model_json_schema()["properties"]

    def decorate(function: F) -> F:
        for name in reversed(list(properties)):
            function = _field_option(name, properties[name])(function)
        return function

    return decorate


def _field_option(name: str, schema: dict[str, Any]) -> Callable[[F], F]:
    plain = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)
    flag = "--" + name.replace("_", "-")
    help_text = schema.get("description")
    kind = plain.get("type")
    if "enum" in plain:
        return click.option(flag, name, type=click.Choice(plain["enum"]), help=help_text)
    if kind == "boolean":
        off = "--no-" + name.removeprefix("has_").replace("_", "-")
        return click.option(f"{flag}/{off}", name, default=None, help=help_text)
    if kind == "array":
        return click.option(flag, name, multiple=True, help=f"{help_text} Repeatable.")
    bounds = {"min": plain.get("minimum"), "max": plain.get("maximum")}
    if kind == "integer":
        return click.option(flag, name, type=click.IntRange(**bounds), help=help_text)
    if kind == "number":
        return click.option(flag, name, type=click.FloatRange(**bounds), help=help_text)
    return click.option(flag, name, type=str, help=help_text)
