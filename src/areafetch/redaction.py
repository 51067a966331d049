"""The one URL redactor: what a Redis or PostgreSQL URL looks like in logs and error messages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redacted_url"]


def redacted_url(url: str) -> str:
    """The URL with its password (in the user info or a `password=` parameter) replaced by `***`."""
    # Work on the URL's own text: the password may be percent-encoded there (p%40ss), so
    # searching for the decoded password that a URL parser returns would miss it.
    parts = urlsplit(url)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hostinfo}")
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(query=query))
