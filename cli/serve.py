"""``pixsift serve``: the web app behind gunicorn (registered as a pixsift.commands entry point).

Workers are processes; each opens the library and loads the model once, after the fork (the
master never loads a model), and warms up before taking requests.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from cli.options import (
    library_options,
    model_options,
    open_library,
    reports_errors,
    setting_option,
)
from search.accounts import Accounts
from search.errors import PixsiftError
from web import settings as web_settings
from web.app import MAX_HEADER_FIELD, MAX_HEADER_FIELDS, MAX_REQUEST_LINE, create_app
from web.state import web_state

WORKER_TIMEOUT_SECONDS = 120
THREADS_PER_WORKER = 4


class PixsiftServer(BaseApplication):
    """gunicorn, configured in code; each worker builds its own app with :func:`create_app`."""

    def __init__(self, app_config: dict[str, Any], options: dict[str, Any]) -> None:
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.app_config)


#: Requests gunicorn refuses itself, before any app sees them: (status, reason, code).
GUNICORN_REFUSALS: dict[type[Exception], tuple[int, str, str]] = {
    http_errors.LimitRequestLine: (414, "URI Too Long", "uri_too_long"),
    http_errors.LimitRequestHeaders: (
        431,
        "Request Header Fields Too Large",
        "request_header_fields_too_large",
    ),
    http_errors.InvalidRequestLine: (400, "Bad Request", "bad_request"),
    http_errors.InvalidRequestMethod: (400, "Bad Request", "bad_request"),
    http_errors.InvalidHTTPVersion: (400, "Bad Request", "bad_request"),
    http_errors.InvalidHeader: (400, "Bad Request", "bad_request"),
    http_errors.InvalidHeaderName: (400, "Bad Request", "bad_request"),
}


class JsonErrorWorker(ThreadWorker):
    """gunicorn's threaded worker, answering the requests gunicorn itself refuses (a request line
    or headers past even the raised limits, a malformed request) in pixsift's JSON error shape
    rather than gunicorn's HTML page. The path is not known yet (the line may not even have been
    read), so the answer is JSON everywhere."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        refusal = next((v for k, v in GUNICORN_REFUSALS.items() if isinstance(exc, k)), None)
        if refusal is None:
            super().handle_error(req, client, addr, exc)
            return
        status, reason, code = refusal
        self.log.warning("refused a request from %s: %s", (addr or ("",))[0], exc)
        message = f"{reason.lower()}: {str(exc)[:200]}"
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            gunicorn_util.write_nonblock(client, head.encode("latin-1") + body)
        except OSError:
            self.log.debug("could not send the error answer")


def _post_fork(server: Any, worker: Any) -> None:
    # Share the cores between the workers rather than have every worker use all of them: the
    # same budget for torch and ONNX Runtime, and no torch import where the towers need none.
    from search.model.loading import set_thread_budget

    set_thread_budget((os.cpu_count() or 1) // int(server.cfg.workers))


def _post_worker_init(worker: Any) -> None:
    app = worker.wsgi
    try:
        with app.app_context():
            web_state().warm_up()
    except PixsiftError as error:
        # The worker still serves pages; searches will answer with this error until it is fixed.
        worker.log.error("could not load the model: %s", error.message)


def trusted_host_names(setting: str | None, host: str) -> list[str] | None:
    """Host header values to answer; None for any."""
    if setting:
        return [name.strip() for name in setting.split(",") if name.strip()]
    return list(web_settings.LOOPBACK_HOSTS) if host in web_settings.LOOPBACK_HOSTS else None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(
    host: str, accounts_in_use: bool, insecure_no_accounts: bool, hosts: list[str] | None
) -> None:
    """Refuse to serve a network without accounts, or without knowing its own host names."""
    if is_loopback(host):
        return
    if not accounts_in_use and not insecure_no_accounts:
        raise click.ClickException(
            f"refusing to serve {host} without accounts: anyone who can connect would get every "
            "image, path and GPS position. Add an admin first (pixsift users add NAME --role "
            "admin), or serve 127.0.0.1 only, or pass --insecure-no-accounts if this network "
            "is yours alone."
        )
    if hosts is None:
        raise click.ClickException(
            f"serving {host}: name the host names clients use, e.g. --allowed-host "
            "photos.example.org --allowed-host 192.168.1.20 (a Host header not named is "
            "refused, which stops DNS rebinding); --allowed-host '*' answers any."
        )


def exposure_config(
    host: str, names: tuple[str | None, ...], accounts_in_use: bool, insecure_no_accounts: bool
) -> dict[str, Any]:
    """The app's TRUSTED_HOSTS and REQUIRE_ACCOUNTS for serving ``host``, after
    :func:`check_exposure` (which may refuse)."""
    hosts = trusted_host_names(",".join(filter(None, names)), host)
    check_exposure(host, accounts_in_use, insecure_no_accounts, hosts)
    network = not is_loopback(host)
    if insecure_no_accounts and network and not accounts_in_use:
        click.echo(
            "pixsift: WARNING: --insecure-no-accounts: serving everything to anyone who can "
            f"reach {host}",
            err=True,
        )
    return {
        "TRUSTED_HOSTS": None if hosts is not None and "*" in hosts else hosts,
        # On a network a caller is always required: removing the last account later locks the
        # server rather than opening it.
        "REQUIRE_ACCOUNTS": network and not insecure_no_accounts,
    }


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@click.command("serve")
@setting_option(web_settings.HOST, "--host", show_default=True)
@setting_option(web_settings.PORT, "--port", type=click.IntRange(1, 65535), show_default=True)
@setting_option(web_settings.WORKERS, "--workers", type=click.IntRange(1, 64), show_default=True)
@setting_option(web_settings.TRUSTED_HOSTS, "--trusted-hosts")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="A host name clients use (the Host header); repeatable, added to --trusted-hosts. "
    "Required with a non-loopback --host; '*' answers any.",
)
@click.option(
    "--insecure-no-accounts",
    is_flag=True,
    help="Serve a non-loopback address although no account exists: everyone who can connect "
    "gets everything. Only for a network that is yours alone.",
)
@click.option(
    "--dev", is_flag=True, help="Flask's development server with the reloader (not for production)."
)
@library_options
@model_options
@reports_errors
def serve_command(
    host: str,
    port: int,
    workers: int,
    trusted_hosts: str | None,
    allowed_hosts: tuple[str, ...],
    insecure_no_accounts: bool,
    dev: bool,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
) -> None:
    """Serve the search page and the JSON API (http://127.0.0.1:8000 by default)."""
    # Open once in the master: a wrong path or URL fails here, and migrations run once.
    with open_library(library, database_url) as opened:
        directory = opened.directory
        image_count = opened.store.image_count()
        accounts_in_use = Accounts(opened.store).in_use()
    app_config = {
        "LIBRARY": str(directory),
        "DATABASE_URL": database_url,
        "MODEL": model,
        "PRETRAINED": pretrained,
        "PREPROCESSING_TAG": preprocessing_tag,
        **exposure_config(
            host, (trusted_hosts, *allowed_hosts), accounts_in_use, insecure_no_accounts
        ),
    }
    click.echo(
        f"pixsift: serving {directory} ({image_count} images) on http://{bind_address(host, port)}/"
    )
    if dev:
        create_app(app_config).run(host=host, port=port, debug=True, use_reloader=True)
        return
    options = {
        "bind": bind_address(host, port),
        "workers": workers,
        "worker_class": JsonErrorWorker,
        # Twice the app's own limits (web.app), so that the app answers first, in its own
        # error shape; past these gunicorn refuses, and JsonErrorWorker answers in JSON.
        "limit_request_line": min(2 * MAX_REQUEST_LINE, 8190),
        "limit_request_field_size": 2 * MAX_HEADER_FIELD,
        "limit_request_fields": 2 * MAX_HEADER_FIELDS,
        "threads": THREADS_PER_WORKER,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "accesslog": "-",
        "errorlog": "-",
        "post_fork": _post_fork,
        "post_worker_init": _post_worker_init,
        "proc_name": "pixsift",
        # Recent gunicorn (27 here) opens a control socket at one fixed path per user: two
        # servers would share it, and one stopping removes the other's. pixsift does not use it.
        "control_socket_disable": True,
    }
    PixsiftServer(app_config, options).run()
