"""The portal home's next-session sheet and next follow-up, written in Python (portal.home),
pinned byte for byte against the template that wrote them (OLD_HOME, home.html as it was),
in the three languages and in each of their branches."""

import re
from datetime import date

import pytest
from django.conf import settings
from django.template import engines
from django.urls import reverse
from django.utils import timezone, translation

from sites.models import Site
from tests.factories import PatientFactory, at, book, complete
from tests.test_portal import portal_client
from treatments import patient_requests
from treatments.models import FollowUp, TreatmentSession

pytestmark = pytest.mark.django_db

# The parts as home.html wrote them; put back in its place, the page as it was (OLD_HOME).
OLD_SESSION_CARD = """{% with s=page.prep.session %}
<div class="card mb-3"><div class="card-body">
  <h2 class="h5">{% translate "Your next session" %}</h2>
  <p class="lead mb-1" id="next-session">{{ s|session_when:patient.time_zone }}</p>
  <p class="mb-1 text-muted">{% translate "On the clinic's clock." %} {{ s.site.name }}, {{ s.site.address|default:CLINIC_ADDRESS }}</p>
  <p class="mb-2" id="countdown">{% if page.prep.days_to_go > 1 %}{% blocktranslate with days=page.prep.days_to_go %}In {{ days }} days{% endblocktranslate %}{% elif page.prep.days_to_go == 1 %}{% translate "Tomorrow" %}{% else %}{% translate "Today" %}{% endif %}</p>
  <div class="d-flex flex-wrap gap-2 d-print-none">
    <a class="btn btn-outline-primary btn-sm" id="ics-link" href="{% url 'portal_session_ics' s.pk %}">{% translate "Add to calendar" %}</a>
    <button class="btn btn-outline-secondary btn-sm" data-action="print" type="button">{% translate "Print this sheet" %}</button>
    {% if s.pk in page.requested %}<span class="text-muted small align-self-center">{% translate "You asked to change this session; the clinic will contact you." %}</span>
    {% elif self_change %}<a class="btn btn-outline-secondary btn-sm" id="move-link" href="{% url 'portal_book' %}?move={{ s.pk }}">{% translate "Move" %}</a>
    <a class="btn btn-outline-danger btn-sm" id="cancel-link" href="{% url 'portal_cancel' s.pk %}">{% translate "Cancel" %}</a>
    {% else %}<a class="btn btn-outline-secondary btn-sm" href="{% url 'portal_request_change' s.pk %}">{% translate "Ask to move or cancel" %}</a>{% endif %}
  </div>
</div></div>

<h2 class="h5">{% translate "How to prepare" %}</h2>
<ul class="list-group mb-3" id="prep">
  {% if patient.takes_prescribed_nsaid %}
  <li class="list-group-item" id="nsaid-advice"><strong>{% blocktranslate with medicine=patient.prescribed_nsaid %}Your {{ medicine }}:{% endblocktranslate %}</strong> {% if s.nsaid_decided_at %}{% blocktranslate with advice=s.nsaid_decision %}the clinic's advice: {{ advice }}{% endblocktranslate %}{% else %}{% translate "please wait for the clinic's advice and do not stop it on your own." %}{% endif %}</li>
  {% else %}
  <li class="list-group-item" id="nsaid-stop">{% blocktranslate trimmed with first=page.prep.window.first_day|day_month resume=page.prep.window.resume_day|long_date %}<strong>From {{ first }}:</strong> no aspirin, ibuprofen, naproxen or other NSAIDs. You may take them again from <strong>{{ resume }}</strong>. Paracetamol is usually fine; please ask us first.{% endblocktranslate %}</li>
  {% endif %}
  <li class="list-group-item">{% blocktranslate trimmed with day=page.prep.day_before|day_month %}<strong>{{ day }} (the day before):</strong> drink plenty of fluids.{% endblocktranslate %}</li>
  <li class="list-group-item">{% blocktranslate trimmed with day=page.prep.day|day_month %}<strong>{{ day }}, in the morning:</strong> eat breakfast.{% endblocktranslate %}</li>
  <li class="list-group-item">{% translate "<strong>Bring:</strong> a list of the medicines you take. Come with a clean scalp." %}</li>
</ul>
{% endwith %}"""  # noqa: E501
OLD_FOLLOW_UP_CARD = """{% with f=page.next_follow_up %}
<div class="card mb-3" id="next-follow-up"><div class="card-body">
  <h2 class="h5">{% translate "Your next follow-up" %}</h2>
  <p class="mb-1">{% blocktranslate trimmed with kind=f.get_kind_display day=f.due_date|long_date %}{{ kind }}: <strong>{{ day }}</strong>. The clinic will contact you to arrange it.{% endblocktranslate %}</p>
  <a class="btn btn-outline-primary btn-sm d-print-none" href="{% url 'portal_follow_up_ics' f.pk %}">{% translate "Add to calendar" %}</a>
  <a class="btn btn-outline-secondary btn-sm d-print-none" href="{% url 'portal_follow_ups' %}">{% translate "All your follow-ups" %}</a>
</div></div>
{% endwith %}"""  # noqa: E501
HOME = (settings.BASE_DIR / "templates" / "portal" / "home.html").read_text()
OLD_HOME = HOME.replace("{{ session_card }}{# written in portal.home #}", OLD_SESSION_CARD).replace(
    "{{ follow_up_card }}", OLD_FOLLOW_UP_CARD
)
assert OLD_HOME.count("{% with") == 2


def _same_page(client, patient) -> str:
    """The page as served, and as the old template renders it from the view's own context:
    byte for byte the same (the CSRF token masked anew at each render aside)."""
    response = client.get(reverse("portal_home"))
    assert response.status_code == 200
    view_keys = ("patient", "page", "booking_request", "self_change", "answered")
    context = {key: response.context[key] for key in view_keys}
    with translation.override(patient.language), timezone.override(patient.tz):
        old = engines["django"].from_string(OLD_HOME).render(context, response.wsgi_request)

    def unmasked(html: str) -> str:
        return re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]*', r"\1", html)

    new = response.content.decode()
    assert unmasked(new) == unmasked(old)
    return new


@pytest.mark.parametrize("language", ["en-gb", "de", "tr"])
def test_the_session_sheet_and_follow_up_are_the_templates(frozen, language):
    patient = PatientFactory(first_name="Zoë", language=language)
    client = portal_client(patient)
    done = complete(book(patient, date(2026, 7, 1), hour=10, now=at(date(2026, 6, 1))))
    coming = book(patient, date(2027, 1, 11), hour=10)
    # One of its checks planned for after today: the next follow-up.
    FollowUp.objects.filter(pk=done.follow_ups.filter(status="planned").first().pk).update(
        due_date=date(2027, 1, 20), due_from=date(2027, 1, 18), due_until=date(2027, 1, 22)
    )
    html = _same_page(client, patient)
    assert 'id="next-follow-up"' in html and 'id="nsaid-stop"' in html
    site = coming.site
    site.name, site.address = "Kaya & Partners <Mitte>", ""
    site.save()
    html = _same_page(client, patient)
    assert "Kaya &amp; Partners &lt;Mitte&gt;" in html
    patient_requests.request_change(patient=patient, session=coming, kind="cancel")
    assert 'id="move-link"' not in _same_page(client, patient)
    patient.takes_prescribed_nsaid, patient.prescribed_nsaid = True, "Aspirin <100> & co"
    patient.save()
    assert 'id="nsaid-advice"' in _same_page(client, patient)
    TreatmentSession.objects.filter(pk=coming.pk).update(
        nsaid_decided_at=at(date(2027, 1, 4), 8), nsaid_decision='Pause it "now" <please>'
    )
    assert "&lt;please&gt;" in _same_page(client, patient)


@pytest.mark.parametrize(("day", "hour"), [(date(2027, 1, 5), 10), (date(2027, 1, 4), 17)])
def test_tomorrow_and_today_and_the_links_to_change(frozen, day, hour):
    patient = PatientFactory(language="de")
    client = portal_client(patient)
    book(patient, day, hour=hour, now=at(date(2026, 12, 1)))
    Site.objects.update(address="")
    _same_page(client, patient)
    patient.language = "tr"
    patient.save()
    _same_page(client, patient)


def test_a_far_session_may_be_moved_or_cancelled_by_the_patient(frozen):
    patient = PatientFactory()
    client = portal_client(patient)
    book(patient, date(2027, 3, 10), hour=10)
    html = _same_page(client, patient)
    assert "In 65 days" in html
