"""Refuse an oversized request from its Content-Length, before its body is read.

Django spools uploaded files to disk whatever their size and checks them afterwards; a
client could otherwise make every web process read and store gigabytes. The largest honest
request is a follow-up with a photo of every view.
"""

from django.conf import settings
from django.shortcuts import render


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body from a request with a malformed length
        if length > settings.UPLOAD_MAX_BYTES:
            return render(
                request,
                "413.html",
                {"max_mb": settings.UPLOAD_MAX_BYTES // 1024 // 1024},
                status=413,
            )
        return self.get_response(request)
