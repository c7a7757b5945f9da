"""The ``pixsift`` command line: one click group; each command lives in the module that reads
best for it and is imported only when it runs, so ``pixsift search`` never imports the indexer or
the web server."""

from __future__ import annotations

import gc
import importlib
import os

import click

from pixsift.search import settings
from pixsift.search.model.spec import BACKENDS, PRECISION_CHOICES

#: Command name -> "module:attribute" of its click command.
COMMANDS = {
    "search": "pixsift.cli.searching:search",
    "duplicates": "pixsift.cli.searching:duplicates",
    "eval": "pixsift.cli.evaluating:eval_command",
    "explain": "pixsift.cli.explaining:explain",
    "stats": "pixsift.cli.maintenance:stats",
    "rebuild-index": "pixsift.cli.maintenance:rebuild_index",
    "failures": "pixsift.cli.maintenance:failures",
    "db": "pixsift.cli.maintenance:db",
    "index": "pixsift.cli.index:index_command",
    "describe": "pixsift.cli.describing:describe",
    "serve": "pixsift.cli.serve:serve_command",
    "tags": "pixsift.cli.tags:tags",
    "users": "pixsift.cli.accounts:users",
    "keys": "pixsift.cli.accounts:keys",
    "models": "pixsift.cli.models:models",
    "albums": "pixsift.cli.albums:albums",
}

#: Commands that do one thing and end (a query's objects die with the process): run() leaves
#: the cyclic garbage collector off for them.
ONE_SHOT_COMMANDS = frozenset({"search"})


class LazyGroup(click.Group):
    """A group that imports each command on first use (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if name not in ONE_SHOT_COMMANDS:
            gc.enable()  # run() turned it off for the imports; a long command needs it
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="pixsift")
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default=settings.BACKEND.default,
    envvar=settings.BACKEND.environment_variable,
    show_envvar=True,
    show_default=True,
    help=settings.BACKEND.help,
)
@click.option(
    "--quantize",
    type=click.Choice(PRECISION_CHOICES, case_sensitive=False),
    default=settings.QUANTIZE.default,
    envvar=settings.QUANTIZE.environment_variable,
    show_envvar=True,
    show_default=True,
    help=settings.QUANTIZE.help,
)
@click.option(
    "--tokenizer",
    type=click.Path(path_type=str),
    envvar=settings.TOKENIZER.environment_variable,
    show_envvar=True,
    help=settings.TOKENIZER.help,
)
def main(backend: str, quantize: str, tokenizer: str | None) -> None:
    """pixsift: search your images in plain words."""
    # The runtime and where the model's files are apply to every command and to the server's
    # workers, which read them from the environment like any other setting.
    os.environ[settings.BACKEND.environment_variable] = backend
    os.environ[settings.QUANTIZE.environment_variable] = quantize
    if tokenizer:
        os.environ[settings.TOKENIZER.environment_variable] = tokenizer


def run() -> None:
    """The ``pixsift`` console script: :func:`main`, then an exit without the interpreter's last
    garbage collection, which walks every object the imports made (pydantic, SQLAlchemy, numpy):
    about 0.25 s of a one-second command. Frozen objects are skipped; the process is ending, so
    nothing is lost. (Only here: code that calls ``main`` in-process keeps a normal collector.)

    The collector is also off while the command's modules are imported: imports make many
    objects and almost no garbage cycles, yet each 700 new objects start a collection (~7 % of
    the import CPU). LazyGroup.get_command turns it back on, except for ONE_SHOT_COMMANDS."""
    gc.disable()
    try:
        main()
    finally:
        gc.freeze()
