"""Uploaded files (follow-up photos, lot certificates) as the views serve them, whatever the
storage: this machine's disk (MEDIA_ROOT) or a shared S3-compatible bucket.

A view checks who is asking (and logs the access) before it calls serve(). Then:
- a storage that signs its URLs (django-storages' S3Storage with querystring auth, no public
  custom domain): a redirect to a URL signed for this one object, valid MEDIA_URL_SECONDS
  (60 s), which names the content type, the disposition and `Cache-Control: private,
  no-store` the store must answer with. The bytes go from the store to the browser, not
  through a web node's worker (a compare page of ten photos would hold ten of them); the
  page's Content-Security-Policy allows images from the store's origin
  (clinic.middleware.StorageOriginInCspMiddleware). Never an unsigned, public URL.
- any other storage (the filesystem): the bytes, streamed by the view.
A file the storage does not have is a 404; a store that does not answer in time is a 503.
"""

import logging
import mimetypes
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage

logger = logging.getLogger("clinic.storage")

# What a store that is down or slow raises (the filesystem: OSError).
STORAGE_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError, OSError)


def signing_storage(storage: Storage) -> S3Storage | None:
    """The storage, where its url() is a signed, expiring URL (never a public one)."""
    if isinstance(storage, S3Storage) and storage.querystring_auth and not storage.custom_domain:
        return storage
    return None


def signed_url_origin() -> str | None:
    """The origin (scheme://host[:port]) the default storage's signed URLs point at, for the
    Content-Security-Policy's img-src; None where the views stream files themselves."""
    storage = signing_storage(default_storage)
    if storage is None:
        return None
    origin: str | None = getattr(storage, "clinic_signed_origin", None)
    if origin is None:
        try:
            parts = urlsplit(storage.url("origin-probe"))  # signed here: no request is sent
        except STORAGE_ERRORS as exc:  # no credentials: the photo views will say 503
            logger.warning("The file storage cannot sign URLs: %s", exc)
            return None
        origin = f"{parts.scheme}://{parts.netloc}"
        storage.clinic_signed_origin = origin  # once per storage instance (per process)
    return origin


def content_type_of(name: str, default: str = "application/octet-stream") -> str:
    return mimetypes.guess_type(name)[0] or default


def serve(file: FieldFile, *, filename: str, content_type: str, inline: bool) -> HttpResponseBase:
    """The stored file for a request already let through: a redirect to a short-lived signed
    URL, or the bytes. `filename` is what the browser saves it as."""
    if not file:
        raise Http404("No file.")
    name = file.name or ""
    disposition = content_disposition_header(as_attachment=not inline, filename=filename) or ""
    response: HttpResponseBase
    try:
        if storage := signing_storage(file.storage):
            if not storage.exists(name):
                raise FileNotFoundError(name)
            url = storage.url(
                name,
                parameters={
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": disposition,
                    "ResponseCacheControl": "private, no-store",
                },
                expire=settings.MEDIA_URL_SECONDS,
            )
            response = HttpResponseRedirect(url)
        else:
            response = FileResponse(file.open("rb"), content_type=content_type)
            response["Content-Disposition"] = disposition
    except FileNotFoundError as exc:
        raise Http404("The file is not in the storage.") from exc
    except STORAGE_ERRORS as exc:
        logger.warning("The file storage did not answer for %s: %s", file.name, exc)
        response = HttpResponse(
            "The file store is not answering. Try again in a moment.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "10"
    # Medical images and documents: no browser or proxy cache keeps them, nor the redirect.
    patch_cache_control(response, private=True, no_store=True)
    return response
