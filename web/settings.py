"""Web-only settings, declared like the shared ones in :mod:`search.settings` (name, default,
help, environment variable). The Flask config key of a setting is its name in upper case."""

from __future__ import annotations

from pixsift.search import settings as shared
from pixsift.search.settings import Setting

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
    "behind a proxy (default: the loopback address bound and localhost when bound to loopback, "
    "which stops DNS rebinding; any otherwise).",
    "PIXSIFT_TRUSTED_HOSTS",
)
IDLE_TIMEOUT = Setting(
    "idle_timeout",
    30,
    "Seconds a connection may stay silent (idle keep-alive, a stalled request or upload) before "
    "the server closes it.",
    "PIXSIFT_IDLE_TIMEOUT",
)
MAX_CONCURRENT_UPLOADS = Setting(
    "max_concurrent_uploads",
    2,
    "Example images one worker decodes at once; more at the same time are answered 503 with "
    "Retry-After (each decode may take a few hundred MB).",
    "PIXSIFT_MAX_CONCURRENT_UPLOADS",
)

# Accounts and limits (see docs/security.md) ----------------------------------------------------

SECRET_KEY = Setting(
    "secret_key",
    None,
    "Key that signs session cookies and CSRF tokens (default: one generated on first need and "
    "kept in the library folder, file mode 0600). Give it as an environment variable only.",
    "PIXSIFT_SECRET_KEY",
)
HIDE_GPS_FROM_VIEWERS = Setting(
    "hide_gps_from_viewers",
    1,
    "1 (default): viewers never see GPS positions; 0: they do. Admins always do.",
    "PIXSIFT_HIDE_GPS_FROM_VIEWERS",
)
TRUSTED_PROXIES = Setting(
    "trusted_proxies",
    0,
    "How many reverse proxies in front of pixsift to believe about the client's address and "
    "https (X-Forwarded-For/-Proto/-Host); 0 (default) believes none.",
    "PIXSIFT_TRUSTED_PROXIES",
)
LOGIN_RATE_LIMIT = Setting(
    "login_rate_limit",
    "10 per minute",
    'Login attempts per client address, e.g. "10 per minute" ("off" for none).',
    "PIXSIFT_LOGIN_RATE_LIMIT",
)
SEARCH_RATE_LIMIT = Setting(
    "search_rate_limit",
    "120 per minute",
    'Searches per client address with accounts in use, e.g. "120 per minute" ("off" for none).',
    "PIXSIFT_SEARCH_RATE_LIMIT",
)
UPLOAD_RATE_LIMIT = Setting(
    "upload_rate_limit",
    "20 per minute",
    'Searches by an uploaded image per client address with accounts in use ("off" for none).',
    "PIXSIFT_UPLOAD_RATE_LIMIT",
)
SHARE_RATE_LIMIT = Setting(
    "share_rate_limit",
    "600 per minute",
    "Requests to share links (pages, thumbnails, previews) per client address, always counted "
    '("off" for none).',
    "PIXSIFT_SHARE_RATE_LIMIT",
)
SHARE_PASSWORD_RATE_LIMIT = Setting(
    "share_password_rate_limit",
    "30 per minute",
    'Share-link requests that carry a password, per client address ("off" for none).',
    "PIXSIFT_SHARE_PASSWORD_RATE_LIMIT",
)
RATE_LIMIT_STORAGE = Setting(
    "rate_limit_storage",
    "memory://",
    "Where rate-limit counters live: memory:// (default; each worker counts on its own) or a "
    "shared store such as redis://host:6379.",
    "PIXSIFT_RATE_LIMIT_STORAGE",
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

MAP_TILES = Setting(
    "map_tiles",
    "",
    "Tiles under the map of places: a URL template such as "
    "https://tiles.example.org/{z}/{x}/{y}.png (a tile server you run or trust). Empty (the "
    "default): no tiles, the points on a plain background, nothing asked of another server.",
    "PIXSIFT_MAP_TILES",
)

#: Every setting the web app reads into its config, shared ones first.
ACCOUNT_SETTINGS = (
    SECRET_KEY,
    HIDE_GPS_FROM_VIEWERS,
    TRUSTED_PROXIES,
    LOGIN_RATE_LIMIT,
    SEARCH_RATE_LIMIT,
    UPLOAD_RATE_LIMIT,
    SHARE_RATE_LIMIT,
    SHARE_PASSWORD_RATE_LIMIT,
    RATE_LIMIT_STORAGE,
)

APP_SETTINGS = (
    *shared.ALL_SETTINGS,
    *ACCOUNT_SETTINGS,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    MAX_CONCURRENT_UPLOADS,
    PAGE_SIZE,
    THUMBNAIL_SIZE,
    MAP_TILES,
)

#: Largest page a request may ask for.
MAX_PAGE_SIZE = 100


def config_key(setting: Setting) -> str:
    return setting.name.upper()
