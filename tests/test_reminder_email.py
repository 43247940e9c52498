"""The reminder email as the provider receives it: built once before the hand-over and
serialized with a faster header writer, it must be byte for byte what Django's own
EmailMultiAlternatives writes (reminders.channels.ReminderEmail, README "Dispatch benchmark")."""

import random
import string
from datetime import date
from email.policy import compat32

import pytest
from django.core.mail import EmailMultiAlternatives

from reminders import channels
from reminders.models import Reminder
from tests.factories import PatientFactory, book

pytestmark = pytest.mark.django_db


def django_message(email: channels.ReminderEmail):
    """The same email through Django's class, as the dispatcher built it before."""
    plain = EmailMultiAlternatives(
        subject=email.subject, body=email.body, to=email.to, headers=email.extra_headers
    )
    for content, mimetype in email.alternatives:
        plain.attach_alternative(content, mimetype)
    return plain.message()


@pytest.mark.parametrize("language", ["en", "de", "tr"])
@pytest.mark.parametrize("kind", ["booking_confirmation", "day_before", "nsaid_stop"])
def test_the_bytes_are_djangos(frozen, language, kind):
    patient = PatientFactory(language=language, first_name="Çağla Jürgen", last_name="Öztürk-Weiß")
    session = book(patient, date(2027, 3, 10), hour=16)
    reminder = Reminder.objects.get(session=session, kind=kind, channel="email")
    email = channels.prepare(reminder)
    ours = email.message()
    assert email.message() is ours  # built once: the backend writes what was prepared
    theirs = django_message(email)
    theirs.set_boundary(ours.get_boundary())  # random in both; the rest must not differ
    for linesep in ("\n", "\r\n"):  # the console backend's and SMTP's
        assert ours.as_bytes(linesep=linesep) == theirs.as_bytes(linesep=linesep)
    assert ours["Message-ID"] == f"<reminder-{reminder.pk}@clinic.invalid>"


def test_a_boundary_found_in_the_text_is_left_to_the_generator(frozen, monkeypatch):
    session = book(PatientFactory(), date(2027, 3, 10))
    reminder = Reminder.objects.get(session=session, kind="booking_confirmation", channel="email")
    taken = "===============0000000000000000042=="

    class Taken(channels.Generator):  # the boundary ReminderEmail draws
        @classmethod
        def _make_boundary(cls, text=None):
            return taken

    monkeypatch.setattr(channels, "Generator", Taken)
    monkeypatch.setattr(
        channels,
        "render_email",
        lambda r: channels.Email(subject="s", text=f"a\n--{taken}\nb", html="<p>x</p>"),
    )
    message = channels.prepare(reminder).message()
    assert message.get_boundary() is None  # not ours to pick: the generator checks the text
    written = message.as_bytes()
    assert message.get_boundary() and message.get_boundary() != taken
    assert f"--{message.get_boundary()}--".encode() in written


def test_the_fast_header_writer_folds_as_compat32():
    """Random header values, short and long, with every kind of ASCII whitespace and
    punctuation, and non-ASCII ones: the shortcut and compat32 write the same bytes."""
    rng = random.Random(18)
    alphabet = string.ascii_letters + '  \t;,=?"<>@.:-_()' + "\x00\x0b\x0c\x1c\x7fäÇ€"
    for _ in range(20_000):
        name = rng.choice(["Subject", "To", "X-Clinic-Reminder", "Content-Type", "A"])
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        if any(c in value for c in "\x0b\x0c\x1c"):
            continue  # line breaks to compat32: refused in a header by Django already
        for linesep in ("\n", "\r\n"):
            fast = channels.COMPAT32_FAST.clone(linesep=linesep)
            slow = compat32.clone(linesep=linesep)
            assert fast.fold(name, value) == slow.fold(name, value), (name, value)
            assert fast.fold_binary(name, value) == slow.fold_binary(name, value), (name, value)
