"""`{{ form|bootstrap_form }}`: crispy-forms' Bootstrap 5 markup written in Python
(ui.forms.bootstrap_form), for the pages where `{{ form|crispy }}` cost most."""

from django import template

from ui import forms

register = template.Library()
register.filter("bootstrap_form", forms.bootstrap_form)
