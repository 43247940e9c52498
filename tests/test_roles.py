"""The role groups exist with the permissions their work needs (kept by post_migrate)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

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


def test_migrate_puts_drifted_roles_back_and_is_idempotent():
    """A role edited by hand (or a permission added in code) is in step after `migrate`."""
    staff = Group.objects.get(name=roles.CLINIC_STAFF)
    staff.permissions.add(Permission.objects.get(codename="record_findings"))
    Group.objects.get(name=roles.PATIENT).delete()
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    test_every_role_exists_with_exactly_its_permissions()
    assert Group.objects.filter(name__in=roles.ROLE_PERMISSIONS).count() == len(
        roles.ROLE_PERMISSIONS
    )


def test_a_role_naming_a_missing_permission_fails_loudly(monkeypatch):
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, roles.PATIENT, ["treatments.fly_to_the_moon"])
    with pytest.raises(LookupError, match="fly_to_the_moon"):
        roles.sync_roles()
