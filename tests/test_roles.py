"""The role groups exist with the permissions their work needs (created by a migration)."""

import pytest
from django.contrib.auth.models import Group

from accounts import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def perms(role):
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=role).permissions.all()
    }


def test_every_role_exists_with_exactly_its_permissions():
    for role, wanted in roles.ROLE_PERMISSIONS.items():
        assert perms(role) == set(wanted), role


def test_only_clinicians_and_admins_decide_and_complete():
    assert "treatments.record_nsaid_decision" not in perms(roles.CLINIC_STAFF)
    # A follow-up's findings are a clinician's; the front desk marks attendance only.
    assert "treatments.record_findings" not in perms(roles.CLINIC_STAFF)
    assert "treatments.record_findings" in perms(roles.CLINICIAN) & perms(roles.CLINIC_ADMIN)
    assert "treatments.complete_treatmentsession" in perms(roles.CLINICIAN)
    assert "treatments.change_protocolversion" in perms(roles.CLINIC_ADMIN)
    assert "treatments.change_protocolversion" not in perms(roles.CLINICIAN)
    assert perms(roles.PATIENT) == set()


def test_a_user_gets_permissions_through_the_group():
    user = UserFactory(role=roles.CLINICIAN)
    assert user.has_perm("treatments.record_nsaid_decision")
    assert not UserFactory(role=roles.PATIENT).has_perm("patients.view_patient")
