"""One look at the network before a download, so an offline machine gets one line, at once.

Without it, ``huggingface_hub`` retries for about 25 s, printing two lines per retry, and its
last line never says the cause is that there is no network. The probe opens one TCP connection
to the download's host (5 s at most); behind a proxy (``HTTPS_PROXY``, ``ALL_PROXY``) direct
connections may be blocked while downloads work, so there it is skipped.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from .errors import ItrBenchError

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")
PROBE_SECONDS = 5.0


def require_network(url: str, what: str) -> None:
    """Return when ``url``'s host answers; else one :class:`ItrBenchError` saying there is no network."""
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return
    parts = urlsplit(url)
    host, port = parts.hostname or url, parts.port or (80 if parts.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            return
    except OSError as exc:
        cause = exc.strerror or str(exc) or type(exc).__name__
        raise ItrBenchError(f"{what}: no network: cannot reach {host}:{port} ({cause}); run fetch-weights on a "
                            "machine that is online (then copy its cache here)") from None
