"""``pixsift serve``: the web app behind gunicorn (registered as a pixsift.commands entry point).

Workers are processes; each opens the library and loads the model once, after the fork (the
master never loads a model), and warms up before taking requests. Inside a worker, waitress reads
the requests (see :mod:`cli.worker` for why not gunicorn's threaded worker): slow or idle clients
hold a socket, never a thread.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from pixsift.cli.options import (
    library_options,
    model_options,
    open_library,
    reports_errors,
    setting_option,
)
from pixsift.cli.worker import WaitressWorker
from pixsift.search.accounts import Accounts
from pixsift.search.errors import PixsiftError
from pixsift.web import settings as web_settings
from pixsift.web.app import create_app
from pixsift.web.auth import load_or_create_secret_key
from pixsift.web.state import freeze_warmed_objects, web_state

WORKER_TIMEOUT_SECONDS = 120
THREADS_PER_WORKER = 4
#: Open connections one worker keeps (slow ones included); past it, it stops accepting until some
#: close, and the other workers take the new ones.
CONNECTIONS_PER_WORKER = 200
#: The request line and headers together: far above the app's own limits (web.app), so that the
#: app answers those in its own error shape; past this, waitress refuses (in JSON, cli.worker).
MAX_REQUEST_HEAD_BYTES = 256 * 1024
#: Multipart framing around the largest accepted upload: the app answers 413 itself up to here.
BODY_ALLOWANCE_BYTES = 64 * 1024


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


def _post_fork(server: Any, worker: Any) -> None:
    # Share the cores between the workers rather than have every worker use all of them: the
    # same budget for torch and ONNX Runtime, and no torch import where the towers need none.
    from pixsift.search.model.loading import set_thread_budget

    set_thread_budget((os.cpu_count() or 1) // int(server.cfg.workers))


def _post_worker_init(worker: Any) -> None:
    app = worker.wsgi
    try:
        with app.app_context():
            web_state().warm_up()
    except PixsiftError as error:
        # The worker still serves pages; searches will answer with this error until it is fixed.
        worker.log.error("could not load the model: %s", error.message)
    freeze_warmed_objects()


def trusted_host_names(setting: str | None, host: str) -> list[str] | None:
    """Host header values to answer; None for any. Bound to a loopback address, the server
    answers that address and ``localhost`` only (any other name may be a DNS rebinding)."""
    if setting:
        return [name.strip() for name in setting.split(",") if name.strip()]
    return loopback_host_names(host) if is_loopback(host) else None


def loopback_host_names(host: str) -> list[str]:
    """The Host names of a loopback bind: its address (an IPv6 one in brackets, as a Host
    header writes it) and ``localhost``."""
    if host == "localhost":
        return ["localhost", "127.0.0.1", "[::1]"]
    address = ipaddress.ip_address(host.strip("[]"))
    return [f"[{address}]" if address.version == 6 else str(address), "localhost"]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(
    host: str,
    accounts_in_use: bool,
    insecure_no_accounts: bool,
    hosts: list[str] | None,
    proxies: int = 0,
) -> None:
    """Refuse to serve a network without accounts, or without knowing its own host names. A
    server behind a proxy (``proxies``) serves whoever reaches the proxy: a network too."""
    if is_loopback(host) and not proxies:
        return
    if proxies and hosts == trusted_host_names(None, host):
        hosts = None  # only the loopback names: not the ones the proxy's clients use
    where = f"{host} behind {proxies} prox{'ies' if proxies > 1 else 'y'}" if proxies else host
    if not accounts_in_use and not insecure_no_accounts:
        raise click.ClickException(
            f"refusing to serve {where} without accounts: anyone who can connect would get every "
            "image, path and GPS position. Add an admin first (pixsift users add NAME --role "
            "admin), or serve 127.0.0.1 only, or pass --insecure-no-accounts if this network "
            "is yours alone."
        )
    if hosts is None:
        raise click.ClickException(
            f"serving {where}: name the host names clients use, e.g. --allowed-host "
            "photos.example.org --allowed-host 192.168.1.20 (a Host header not named is "
            "refused, which stops DNS rebinding); --allowed-host '*' answers any."
        )


def exposure_config(
    host: str,
    names: tuple[str | None, ...],
    accounts_in_use: bool,
    insecure_no_accounts: bool,
    proxies: int = 0,
) -> dict[str, Any]:
    """The app's TRUSTED_HOSTS and REQUIRE_ACCOUNTS for serving ``host`` (behind ``proxies``
    trusted proxies), after :func:`check_exposure` (which may refuse)."""
    hosts = trusted_host_names(",".join(filter(None, names)), host)
    check_exposure(host, accounts_in_use, insecure_no_accounts, hosts, proxies)
    network = not is_loopback(host) or proxies > 0
    if insecure_no_accounts and network and not accounts_in_use:
        click.echo(
            "pixsift: WARNING: --insecure-no-accounts: serving everything to anyone who can "
            f"reach {host}",
            err=True,
        )
    return {
        "TRUSTED_HOSTS": None if hosts is not None and "*" in hosts else hosts,
        # On a network (or behind a proxy) a caller is always required, and so on a library
        # that has accounts: removing the last account later locks the server rather than
        # opening it.
        "REQUIRE_ACCOUNTS": accounts_in_use or (network and not insecure_no_accounts),
    }


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@click.command("serve")
@setting_option(web_settings.HOST, "--host", show_default=True)
@setting_option(web_settings.PORT, "--port", type=click.IntRange(1, 65535), show_default=True)
@setting_option(web_settings.WORKERS, "--workers", type=click.IntRange(1, 64), show_default=True)
@setting_option(web_settings.TRUSTED_HOSTS, "--trusted-hosts")
@setting_option(
    web_settings.TRUSTED_PROXIES, "--trusted-proxies", type=click.IntRange(0, 8), show_default=True
)
@setting_option(
    web_settings.IDLE_TIMEOUT, "--idle-timeout", type=click.IntRange(1, 3600), show_default=True
)
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
    trusted_proxies: int,
    idle_timeout: int,
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
        "TRUSTED_PROXIES": trusted_proxies,
        **exposure_config(
            host,
            (trusted_hosts, *allowed_hosts),
            accounts_in_use,
            insecure_no_accounts,
            trusted_proxies,
        ),
    }
    if app_config["REQUIRE_ACCOUNTS"] and not web_settings.SECRET_KEY.value():
        # Made (or checked) once here, before the workers fork: each worker's first request
        # then finds it, and a key file others can read stops the start, not every request.
        load_or_create_secret_key(directory)
    click.echo(
        f"pixsift: serving {directory} ({image_count} images) on http://{bind_address(host, port)}/"
    )
    if dev:
        create_app(app_config).run(host=host, port=port, debug=True, use_reloader=True)
        return
    WaitressWorker.adjustments = waitress_adjustments(idle_timeout)
    PixsiftServer(app_config, gunicorn_options(bind_address(host, port), workers)).run()


def gunicorn_options(bind: str, workers: int) -> dict[str, Any]:
    """gunicorn's settings: waitress inside each worker, logs on the console."""
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": WaitressWorker,
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


def waitress_adjustments(idle_timeout: int) -> dict[str, Any]:
    """How each worker's waitress reads requests: every limit on what a client may hold."""
    max_body = int(web_settings.MAX_UPLOAD_BYTES.value() or 0) + BODY_ALLOWANCE_BYTES
    return {
        "threads": THREADS_PER_WORKER,
        "connection_limit": CONNECTIONS_PER_WORKER,
        "channel_timeout": idle_timeout,
        # Silent connections are looked for this often; at most idle_timeout late.
        "cleanup_interval": max(1, idle_timeout // 2),
        "max_request_header_size": MAX_REQUEST_HEAD_BYTES,
        "max_request_body_size": max_body,
        "ident": "pixsift",
        # X-Forwarded-* are the app's business (ProxyFix, --trusted-proxies), not waitress's.
        "trusted_proxy": None,
        "clear_untrusted_proxy_headers": False,
        "log_untrusted_proxy_headers": False,
    }
