"""The gunicorn worker pixsift serves with: gunicorn's master (processes, restarts, signals) and,
inside each worker, waitress reading the requests.

Why not gunicorn's own ``gthread`` worker: it hands a connection to a thread as soon as the first
bytes arrive and the thread then blocks reading the rest of the request, so a client trickling
its headers holds one thread for as long as it likes; four threads per worker, two workers, and
eight such clients freeze the server (measured: ``/api/health`` did not answer for 30 s). waitress
reads every request, headers and body, in its non-blocking event loop and hands it to a thread
only once it is complete (bodies past ``inbuf_overflow`` are spooled to a temporary file, not
memory), so a slow client costs a socket, never a thread. Connections silent for ``idle_timeout``
seconds (keep-alive or a stalled request or upload) are closed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from pixsift.web.app import CONTENT_SECURITY_POLICY

#: How often (s) the event loop wakes to tell the gunicorn master it is alive and to check it
#: should stop.
LOOP_TICK_SECONDS = 1.0

#: waitress's own refusals (before the app sees the request): its status code -> error code.
WAITRESS_ERROR_CODES = {
    400: "bad_request",
    413: "payload_too_large",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


class JsonErrorTask(ErrorTask):
    """waitress's answer to a request it refuses itself (malformed, headers or body past its
    limits), in pixsift's JSON error shape rather than plain text. The path may not be known yet,
    so the answer is JSON everywhere."""

    def execute(self) -> None:
        error = self.request.error
        code = WAITRESS_ERROR_CODES.get(error.code, "bad_request")
        message = f"{error.reason.lower()}: {' '.join(str(error.body).split())[:200]}"
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        # The headers the app puts on every answer (web.app), on these too.
        self.response_headers.append(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        self.response_headers.append(("X-Content-Type-Options", "nosniff"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def access_logged(app: Any, log: logging.Logger) -> Any:
    """``app`` writing one access-log line per request (client, request line, status, seconds),
    where gunicorn's own workers would."""

    def logged(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.monotonic()
        status: list[str] = []

        def recording(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        try:
            return app(environ, recording)
        finally:
            log.info(
                '%s "%s %s %s" %s %.3fs',
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", ""),
                environ.get("PATH_INFO", ""),
                environ.get("SERVER_PROTOCOL", ""),
                (status or ["-"])[-1].split(" ")[0],
                time.monotonic() - started,
            )

    return logged


class WaitressWorker(Worker):
    """A gunicorn worker whose requests are read and answered by waitress, on the sockets the
    gunicorn master bound, with the waitress settings ``pixsift serve`` puts in
    :attr:`adjustments` before the master forks."""

    #: Set by ``pixsift serve`` before the master forks (a class attribute: gunicorn builds the
    #: worker itself). Keys are waitress adjustments.
    adjustments: dict[str, Any] = {}  # noqa: RUF012  (read-only after start-up)

    def run(self) -> None:
        server_map: dict[int, Any] = {}
        server = create_server(
            access_logged(self.wsgi, self.log.access_log) if self.cfg.accesslog else self.wsgi,
            map=server_map,
            sockets=[listener.sock for listener in self.sockets],
            **self.adjustments,
        )
        for dispatcher in list(server_map.values()):
            dispatcher.channel_class = JsonErrorChannel
        try:
            while self.alive:
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("parent changed, shutting down: %s", self)
                    break
                wasyncore.loop(timeout=LOOP_TICK_SECONDS, map=server_map, count=1)
        finally:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server_map)
