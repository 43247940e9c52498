"""The tags of the site's layout (base.html), which every page renders: the menu, and URLs
and static files' addresses worked out once per process rather than on every page."""

from functools import lru_cache

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.safestring import SafeString

from reminders.selectors import unread_inbox_count
from ui import nav

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_menu(context) -> SafeString:
    """The menu's links the signed-in user's roles show (ui.nav); none while the session
    owes its second factor (every link would lead back to the code page)."""
    if context.get("two_factor_pending"):
        return SafeString("")
    request = context["request"]
    match = request.resolver_match
    return nav.menu(context["user"], match.url_name if match else None, unread_inbox_count)


@register.simple_tag(takes_context=True)
def account_links(context) -> str:
    match = context["request"].resolver_match
    return nav.account_links(match.url_name if match else None)


@register.simple_tag
def url_once(name: str) -> str:
    """`{% url name %}` for a URL with no arguments, reversed once per process."""
    return nav.url(name, nav.where())


@register.simple_tag
def static_once(path: str) -> str:
    """`{% static path %}`, looked up once per process (the manifest's hashed name)."""
    return _static(path, settings.STATIC_URL, settings.DEBUG)


@lru_cache(maxsize=64)
def _static(path: str, static_url: str, debug: bool) -> str:
    return static(path)
