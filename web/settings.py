"""Web-only settings, declared like the shared ones in :mod:`search.settings` (name, default,
help, environment variable). The Flask config key of a setting is its name in upper case."""

from __future__ import annotations

from search import settings as shared
from search.settings import Setting

HOST = Setting(
    "host",
    "127.0.0.1",
    "Address to listen on (default: loopback only; use 0.0.0.0 to serve the network).",
    "PIXSIFT_HOST",
)
PORT = Setting("port", 8000, "TCP port to listen on.", "PIXSIFT_PORT")
WORKERS = Setting(
    "workers",
    2,
    "Worker processes; each loads the model once (about 600 MB for ViT-B-32).",
    "PIXSIFT_WORKERS",
)
MAX_UPLOAD_BYTES = Setting(
    "max_upload_bytes",
    20 * 1024 * 1024,
    "Largest accepted request body (an example image to search by), in bytes.",
    "PIXSIFT_MAX_UPLOAD_BYTES",
)
MAX_UPLOAD_PIXELS = Setting(
    "max_upload_pixels",
    50_000_000,
    "Largest accepted example image, in pixels (width x height); more is a decompression bomb.",
    "PIXSIFT_MAX_UPLOAD_PIXELS",
)
PAGE_SIZE = Setting(
    "page_size", 30, "Results per page when the request does not say.", "PIXSIFT_PAGE_SIZE"
)
THUMBNAIL_SIZE = Setting(
    "thumbnail_size",
    256,
    "Longest side of generated thumbnails, in pixels.",
    "PIXSIFT_THUMBNAIL_SIZE",
)

TRUSTED_HOSTS = Setting(
    "trusted_hosts",
    None,
    "Comma-separated host names the server answers to (the Host header), e.g. photos.example.org "
    "behind a proxy (default: 127.0.0.1 and localhost when bound to loopback, which stops DNS "
    "rebinding; any otherwise).",
    "PIXSIFT_TRUSTED_HOSTS",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
IDLE_TIMEOUT = Setting(
    "idle_timeout",
    30,
    "Seconds a connection may stay silent (idle keep-alive, a stalled request or upload) before "
    "the server closes it.",
    "PIXSIFT_IDLE_TIMEOUT",
)
TRUSTED_PROXIES = Setting(
    "trusted_proxies",
    0,
    "Reverse proxies in front of the server whose X-Forwarded-For/-Proto/-Host headers are "
    "trusted (0: none, the headers are ignored; 1: one proxy, e.g. nginx on the same machine).",
    "PIXSIFT_TRUSTED_PROXIES",
)
MAX_CONCURRENT_UPLOADS = Setting(
    "max_concurrent_uploads",
    2,
    "Example images one worker decodes at once; more at the same time are answered 503 with "
    "Retry-After (each decode may take a few hundred MB).",
    "PIXSIFT_MAX_CONCURRENT_UPLOADS",
)

WEB_SETTINGS = (
    HOST,
    PORT,
    WORKERS,
    TRUSTED_HOSTS,
    TRUSTED_PROXIES,
    IDLE_TIMEOUT,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    MAX_CONCURRENT_UPLOADS,
    PAGE_SIZE,
    THUMBNAIL_SIZE,
)

#: Every setting the web app reads into its config, shared ones first.
APP_SETTINGS = (
    *shared.ALL_SETTINGS,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    MAX_CONCURRENT_UPLOADS,
    TRUSTED_PROXIES,
    PAGE_SIZE,
    THUMBNAIL_SIZE,
)

#: Largest page a request may ask for.
MAX_PAGE_SIZE = 100


def config_key(setting: Setting) -> str:
    return setting.name.upper()
