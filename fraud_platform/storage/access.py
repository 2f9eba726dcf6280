"""Reaching the object store (a local folder or ``s3://bucket/prefix``), with errors that say what
to check.

Every access to a stored file goes through `store_path` (which passes ``AWS_REGION`` on to the S3
client) and `object_store_errors` (which turns refused or missing credentials and an unreachable
endpoint into one `ObjectStoreAccessError` naming the URL and the variables to check, never a
secret). `write_atomically`, `write_bytes` and `read_bytes` do both for whole files.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
from botocore.exceptions import ConnectionError as EndpointUnreachableError
from dagster import Failure
from upath import UPath

from fraud_platform.settings import redact_url
from fraud_platform.storage.paths import is_local, replace_atomically
from fraud_platform.storage.redaction import aws_secrets, scrub

_S3_SCHEMES = ("s3", "s3a")


class ObjectStoreAccessError(Failure):
    """The object store refused the credentials, found none, or could not be reached.

    A Dagster `Failure` so that a step's retry policy skips what retrying cannot fix (refused or
    missing credentials) and still retries an unreachable endpoint. Not an `OSError` on purpose:
    the landing zone records an unreadable file (an `OSError`) as bad data, whereas a deployment
    fault must fail the run.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(description=message, allow_retries=retryable)


def storage_options(url: str) -> dict[str, Any]:
    """fsspec options for ``url``: for S3, the region in ``AWS_REGION``.

    Endpoint and keys reach s3fs through botocore's own reading of ``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, but botocore reads only
    ``AWS_DEFAULT_REGION``; a server that checks the signing region needs ``AWS_REGION`` passed on.
    """
    region = os.environ.get("AWS_REGION")
    if region and urlsplit(url).scheme in _S3_SCHEMES:
        return {"client_kwargs": {"region_name": region}}
    return {}


def store_path(url: str) -> UPath:
    """A local folder or object-store URL as a `UPath` carrying `storage_options`."""
    return UPath(url, **storage_options(url))


def _refusal(exc: PermissionError) -> str:
    """``Code: message`` of the S3 answer behind ``exc`` (s3fs keeps it as the cause)."""
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code.isdigit():  # a HEAD answer has no body: "403 Forbidden"
            return f"HTTP {code} {message}".strip()
        return f"{code}: {message}" if message else code
    return str(exc)


def _endpoint(path: UPath) -> str:
    """The endpoint the S3 client talks to, for messages."""
    try:
        return redact_url(path.fs.s3.meta.endpoint_url)
    except Exception:  # no client yet: name what the configuration says
        return os.environ.get("AWS_ENDPOINT_URL") or "the default AWS endpoint"


@contextmanager
def object_store_errors(path: UPath, action: str) -> Iterator[None]:
    """Turn S3 faults of the deployment into an `ObjectStoreAccessError` naming what to check.

    ``action`` is a verb for the message ("read", "write", "list"). Local paths and all other
    errors pass through unchanged: a missing object stays a `FileNotFoundError`.
    """
    url = str(path)
    if urlsplit(url).scheme not in _S3_SCHEMES:
        yield
        return
    shown = redact_url(url)
    try:
        yield
    except PermissionError as exc:
        message = (
            f"S3 refused to {action} {shown} ({_refusal(exc)}) at {_endpoint(path)}. Check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a key pair of that server, allowed to "
            "use the bucket) and AWS_ENDPOINT_URL."
        )
        raise ObjectStoreAccessError(scrub(message, aws_secrets()), retryable=False) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        message = (
            f"no S3 credentials to {action} {shown}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other than AWS)."
        )
        raise ObjectStoreAccessError(message, retryable=False) from exc
    except EndpointUnreachableError as exc:
        request = urlsplit(str(exc.kwargs.get("endpoint_url", "")))
        endpoint = f"{request.scheme}://{request.netloc}" if request.netloc else _endpoint(path)
        reason = exc.kwargs.get("error", exc)
        message = (
            f"cannot reach the S3 endpoint {redact_url(endpoint)} to {action} {shown}: {reason}. "
            "Check AWS_ENDPOINT_URL (and AWS_REGION), and that the server is up."
        )
        raise ObjectStoreAccessError(scrub(message, aws_secrets()), retryable=True) from exc


def write_atomically(path: UPath, write: Callable[[BinaryIO], None]) -> None:
    """Let ``write`` fill the file at ``path``, which appears whole or not at all.

    Locally it is written under a temporary name beside ``path`` and renamed over it; an object
    store publishes an object only once its upload completes, so it is written in place (with the
    store's error mapping).
    """
    if is_local(path):

        def fill(temporary: Path) -> None:
            with temporary.open("wb") as handle:
                write(handle)

        replace_atomically(Path(path.path), fill)
        return
    with object_store_errors(path, "write"), path.open("wb") as handle:
        write(handle)


def write_bytes(path: UPath, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all (see `write_atomically`)."""
    write_atomically(path, lambda handle: handle.write(data))


def read_bytes(path: UPath) -> bytes | None:
    """The bytes at ``path``, or None when there is no such file (store errors mapped)."""
    with object_store_errors(path, "read"):
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
