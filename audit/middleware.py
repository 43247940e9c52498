"""The request's context for the history triggers: every row a request changes is recorded
with who (user id and name), the path, the method and the client's address."""

from axes.helpers import get_client_ip_address
from django.db import connection
from pghistory.middleware import HistoryMiddleware


def client_ip(request) -> str | None:
    """The client's address as django-axes reads it (behind the proxy when configured)."""
    return get_client_ip_address(request) or None


class HistoryContextMiddleware(HistoryMiddleware):
    """pghistory's middleware plus the username, method and address.

    The context travels as a transaction-local setting prepended to each writing statement;
    reads carry nothing, and nothing is written unless a tracked row changes. Placed after
    AuthenticationMiddleware: the user is the one the pages see.
    """

    def __call__(self, request):
        # The history triggers exist on PostgreSQL only; the embedded SQLite has none (and
        # pghistory's statement prefix is PostgreSQL's set_config()).
        if connection.vendor != "postgresql":
            return self.get_response(request)
        return super().__call__(request)

    def get_context(self, request):
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        return {
            "user": user.pk if signed_in else None,
            "username": user.get_username() if signed_in else None,
            "url": request.path,
            "method": request.method,
            "ip": client_ip(request),
        }
