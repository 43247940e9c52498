"""The time-zone picker both page apps use: places people live, the common ones first.

zoneinfo.available_timezones() holds ~600 names, among them "Factory", "localtime",
"Etc/GMT+5", "US/Eastern" and other aliases a patient cannot recognise or should not pick
(Etc/GMT+5 is five hours *behind* UTC). The picker offers only the canonical
Area/Location zones, searchable by typing (a <datalist>), with the zones our patients
mostly live in first.
"""

import zoneinfo

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy

# The regions of the IANA database whose zones name a place (not "Etc", "US", "SystemV"...).
GEOGRAPHIC_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)

# Where most patients of a clinic in Central Europe live or travel from.
COMMON = (
    "Europe/Berlin",
    "Europe/Vienna",
    "Europe/Zurich",
    "Europe/London",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Lisbon",
    "Europe/Rome",
    "Europe/Warsaw",
    "Europe/Istanbul",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)


def is_geographic(name: str) -> bool:
    area, _, place = name.partition("/")
    return area in GEOGRAPHIC_AREAS and bool(place)


def geographic_zones() -> list[str]:
    """Every place-named zone this machine knows, the common ones first, then A to Z."""
    known = {z for z in zoneinfo.available_timezones() if is_geographic(z)}
    common = [z for z in COMMON if z in known]
    return common + sorted(known - set(common))


class ZoneInput(forms.TextInput):
    """A text box the browser searches as the patient types, offering the zones in order."""

    def __init__(self, zones: list[str], attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.zones = zones

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-choices"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}"></option>', ((z,) for z in self.zones))
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


class TimeZoneField(forms.ChoiceField):
    """A zone from geographic_zones() (or the one already on file, so an old value stays
    valid until changed), picked from a searchable list."""

    def __init__(self, *, current: str | None = None, **kwargs):
        zones = geographic_zones()
        if current and current not in zones:
            zones.append(current)
        kwargs.setdefault(
            "help_text",
            gettext_lazy("Start typing a city, e.g. Berlin or New York; common zones come first."),
        )
        super().__init__(choices=[(z, z) for z in zones], widget=ZoneInput(zones), **kwargs)
        self.error_messages["invalid_choice"] = gettext_lazy(
            "Choose a place from the list, written like Europe/Berlin or America/New_York."
        )

    def to_python(self, value):
        return super().to_python(value).strip()
