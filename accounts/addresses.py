"""The client's address, as every part of the app reads it.

django-axes (the sign-in lock-out), the Redis sign-in and reset throttles, the access log, the
history's context and consent signatures all ask django-axes' `get_client_ip_address`, which
calls `client_ip` here (settings.AXES_CLIENT_IP_CALLABLE): one reading of the address.

Behind `TRUSTED_PROXY_COUNT` reverse proxies each proxy appends the address it received the
request from to `X-Forwarded-For`. Only those last entries are trustworthy: anything to their
left was sent by the client and may be invented. So the client is the entry the outermost
trusted proxy appended, counted from the right; a header with fewer entries than proxies did
not come through them all, and the connecting address (the nearest proxy) is used instead.
With no trusted proxy the header is ignored.
"""

from ipaddress import ip_address

from django.conf import settings


def _valid(candidate: str) -> str | None:
    try:
        return str(ip_address(candidate.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return _valid(forwarded[-proxies]) or remote
