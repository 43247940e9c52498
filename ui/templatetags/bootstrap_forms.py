"""`{{ form|bootstrap_form }}` and `{{ field|bootstrap_field }}`: crispy-forms' Bootstrap 5
markup written in Python (ui.forms), for the pages where `{{ form|crispy }}` and
`{{ field|as_crispy_field }}` cost most. `bootstrap_field` is crispy's field.html with its
runs of white space between tags made one space (the same page to a browser)."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from ui import forms

register = template.Library()
register.filter("bootstrap_form", forms.bootstrap_form)


@register.filter
def bootstrap_field(field) -> SafeString:
    return mark_safe(forms.bootstrap_field(field))  # noqa: S308 (escaped as it is written)
