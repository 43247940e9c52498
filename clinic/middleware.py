"""Request-wide safety rules that no single view should have to remember."""

from django.conf import settings
from django.core.exceptions import BadRequest
from django.utils import translation
from django.utils.cache import patch_cache_control

from accounts import roles
from portal.language import SESSION_KEY as PATIENT_LANGUAGE
from treatments.files import signed_url_origin


def _has_nul(query) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in query.lists())


class RefuseNulBytesMiddleware:
    """A NUL byte is never valid input here, and PostgreSQL refuses it in any text: a request
    carrying one in its path, query or form fields is a 400 before a view (or the admin's
    list filters) can hand it to the database and fail with a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or _has_nul(request.GET):
            raise BadRequest("A NUL character is not allowed in a request.")
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            if _has_nul(request.POST):
                raise BadRequest("A NUL character is not allowed in a request.")
        return self.get_response(request)


class NoStoreForSignedInMiddleware:
    """Pages, photos and calendar files seen while signed in are medical records: no browser
    cache, proxy or shared computer may keep a copy (`Cache-Control: no-store, private`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response


class ReaderLanguageMiddleware:
    """Staff read English whatever their browser asks for (LocaleMiddleware, earlier, chose
    from Accept-Language for pages nobody is signed in to). A patient's portal page is in the
    patient's stored language: portal.views.patient_view activates it around the view; their
    other pages read the copy portal.language keeps in the session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if not roles.is_patient(user):
                translation.activate(settings.LANGUAGE_CODE)
            elif language := request.session.get(PATIENT_LANGUAGE):
                # A patient's page outside the portal (password change): their language.
                translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class StorageOriginInCspMiddleware:
    """Where uploaded files live in an S3-compatible bucket, the photo views answer a redirect
    to a signed URL there (treatments/files.py): a page's <img> then loads from the store's
    origin, which the Content-Security-Policy's img-src must allow. Only that origin is added
    (it is read from the storage's own signed URLs); with files on disk nothing changes.
    Sits after csp.middleware.CSPMiddleware, which builds the header from `_csp_update`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        origin = signed_url_origin()
        if origin:
            update = dict(getattr(response, "_csp_update", None) or {})
            update["img-src"] = [*update.get("img-src", []), origin]
            response._csp_update = update
        return response
