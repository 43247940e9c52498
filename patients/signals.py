"""What patients tells the layers above it, without knowing them (sent inside the service's
transaction, like treatments.signals)."""

from django.dispatch import Signal

# The patient's channels, consent or time zone changed: everything planned for them follows.
# Arguments: patient, now.
contact_preferences_changed = Signal()
