"""Keeping secrets out of messages: the one scrubber for error texts shown to people.

Used wherever a message may quote a secret it was built from: S3 errors (the AWS secret key),
alert deliveries (webhook tokens), database errors (a password in a malformed URL). A URL is
shown with `fraud_platform.settings.redact_url` instead, which keeps its shape.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

#: AWS variables whose values must never appear in a message, even if a server echoed them.
AWS_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so a URL goes whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def aws_secrets() -> list[str]:
    """The AWS secrets in this process's environment (`AWS_SECRET_VARIABLES`), for `scrub`."""
    return [value for name in AWS_SECRET_VARIABLES if (value := os.environ.get(name))]
