"""English as the clinic writes it: the British formats (3 March 2026, 16:00)."""

from django.conf.locale.en_GB.formats import *  # noqa: F403
