"""One CSRF token a response: for the forms a view writes in Python and for the layout's
`{% csrf_token %}` alike.

`django.middleware.csrf.get_token` masks the secret anew at every call (about 500 Python
calls each), and Django's own context processor asks it once per template render: a page
whose content is written in Python and whose layout is a template paid it twice or more.
Every masked token of a response unmasks to the same secret, so one is as good as several.
The memo is kept with the secret it masks: after `rotate_token` (signing in) a new one is
made."""

from django.middleware.csrf import get_token
from django.utils.functional import SimpleLazyObject

from .rows import escaped

_MEMO = "_ui_csrf_token"  # request attribute: (the secret, its masked token)


def page_token(request) -> str:
    """The response's masked CSRF token, made once per secret."""
    secret = request.META.get("CSRF_COOKIE")
    memo = getattr(request, _MEMO, None)
    if memo is None or memo[0] != secret:
        token = get_token(request)
        setattr(request, _MEMO, (request.META.get("CSRF_COOKIE"), token))
        return token
    return memo[1]


def hidden_input(token: str) -> str:
    """`{% csrf_token %}` for a token in hand."""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{escaped(token)}">'


def csrf_input(request) -> str:
    """`{% csrf_token %}`: the hidden input with the response's token."""
    return hidden_input(page_token(request))


def csrf(request) -> dict:
    """Context processor, after Django's built-in one (which it overrides): the layout's
    `{% csrf_token %}` writes the token the view's Python-written forms wrote."""
    return {"csrf_token": SimpleLazyObject(lambda: page_token(request))}
