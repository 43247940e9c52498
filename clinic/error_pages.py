"""Our own "not found" and "something went wrong" pages, also on a developer's machine.

With DEBUG on, Django answers a 404 or an unhandled exception with its technical page (URL
patterns, settings, traceback) and never calls handler404/handler500. That is what a
developer wants while debugging but not what someone trying the demo under `make run`
(DEBUG=1) should read. So with DEBUG on this middleware serves our pages too, and the
traceback still goes to the console; DEBUG_ERROR_PAGES=1 brings Django's pages back.
"""

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.urls import Resolver404, resolve
from django.views import defaults

logger = logging.getLogger("django.request")


def _ours(request) -> bool:
    return settings.DEBUG and not settings.DEBUG_ERROR_PAGES


class OwnErrorPagesInDebugMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _ours(request):
            try:
                resolve(request.path_info)
            except Resolver404 as exc:
                # CommonMiddleware (outside this one) still turns a 404 into the slash redirect.
                return defaults.page_not_found(request, exc)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not _ours(request):
            return None
        if isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        if isinstance(exception, (PermissionDenied, BadRequest, SuspiciousOperation)):
            return None  # Django's own handlers (403/400) serve these, with DEBUG on too
        logger.error(
            "Internal Server Error: %s (DEBUG_ERROR_PAGES=1 shows Django's debug page)",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        # templates/500.html stands alone (no database, no user): the fault may be the database.
        return defaults.server_error(request)
