from django.utils.functional import SimpleLazyObject

from reminders.selectors import unread_inbox_count


def inbox(request):
    """The unread count beside "Inbox" in the staff navigation: one COUNT on a partial
    index, run only when a page shows the link (staff who may read the inbox)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": SimpleLazyObject(unread_inbox_count)}
