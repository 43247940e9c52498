"""Where uploaded files (follow-up photos, lot certificates) are kept, from the environment.

No Django import: clinic/settings.py calls this while settings are being read.

Default: the local MEDIA_ROOT (one machine). With STORAGE_URL, or AWS_STORAGE_BUCKET_NAME
and its AWS_* companions, an S3-compatible bucket (AWS S3, MinIO, Ceph, ...) through
django-storages, which every web and worker node shares:

    STORAGE_URL=s3://ACCESS_KEY:SECRET@BUCKET/PREFIX?endpoint_url=https://s3.example.net&region=eu-central-1

Objects are private (no ACL is sent: a bucket's objects are readable only with its keys, and
the bucket must not have a public policy); the files are served only through the clinic's
permission-checking views, which answer a redirect to a URL signed for this one object that
expires after MEDIA_URL_SECONDS (treatments/files.py).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

S3_BACKEND = "storages.backends.s3.S3Storage"


class StorageConfigError(ValueError):
    """The storage settings do not describe a bucket the app can use."""


def parse_storage_url(url: str) -> dict[str, str]:
    """s3://[ACCESS_KEY:SECRET@]BUCKET[/PREFIX][?endpoint_url=..&region=..&addressing_style=..]
    as the keyword arguments of s3_options (credentials URL-encoded where they hold / or +)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise StorageConfigError(
            "STORAGE_URL must look like s3://ACCESS_KEY:SECRET@BUCKET/PREFIX"
            "?endpoint_url=https://host&region=REGION"
        )
    query = urllib.parse.parse_qs(parts.query, strict_parsing=False)
    unknown = set(query) - {"endpoint_url", "region", "addressing_style"}
    if unknown:
        raise StorageConfigError(f"STORAGE_URL: unknown parameter(s) {', '.join(sorted(unknown))}")

    def one(name: str) -> str:
        return query.get(name, [""])[-1]

    return {
        "bucket": parts.netloc.rsplit("@", 1)[-1],
        "location": parts.path.strip("/"),
        "access_key": urllib.parse.unquote(parts.username or ""),
        "secret_key": urllib.parse.unquote(parts.password or ""),
        "endpoint_url": one("endpoint_url"),
        "region": one("region"),
        "addressing_style": one("addressing_style"),
    }


def s3_options(
    *,
    bucket: str,
    endpoint_url: str = "",
    region: str = "",
    access_key: str = "",
    secret_key: str = "",
    location: str = "",
    addressing_style: str = "",
    url_seconds: int = 60,
    timeout: float = 5.0,
    attempts: int = 3,
) -> dict[str, Any]:
    """The OPTIONS of django-storages' S3Storage for the clinic's private bucket."""
    from botocore.config import Config

    if not bucket:
        raise StorageConfigError("The bucket's name is missing (STORAGE_URL's host).")
    if endpoint_url and urllib.parse.urlsplit(endpoint_url).scheme not in ("http", "https"):
        raise StorageConfigError(f"endpoint_url {endpoint_url!r} is not an http(s) URL")
    # Path style (https://host/bucket/key) for an endpoint of one's own (MinIO, a local
    # server), which seldom has a wildcard name per bucket; AWS's own virtual-host style else.
    style = addressing_style or ("path" if endpoint_url else "virtual")
    if style not in ("path", "virtual"):
        raise StorageConfigError(f"addressing_style must be path or virtual, not {style!r}")
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        # Empty: boto3's own chain (AWS_ACCESS_KEY_ID in the environment, an instance role).
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "location": location,
        # No ACL header: the object is private, as the bucket is (a bucket with ACLs
        # disabled, AWS's default, refuses any ACL but the owner's anyway).
        "default_acl": None,
        # Never replace a stored file: a name taken gets a suffix (ours are random anyway).
        "file_overwrite": False,
        # url() signs: a GET of one object, valid this long. Never an unsigned public URL.
        "querystring_auth": True,
        "querystring_expire": url_seconds,
        "custom_domain": None,
        # Medical images: no cache between the store and the browser keeps a copy.
        "object_parameters": {"CacheControl": "private, no-store"},
        # Every call to the store has a timeout and a bounded number of attempts.
        "client_config": Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": attempts, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": style},
        ),
    }
