"""
The clinic's roles, as Django groups, and what each may do.

Groups are created and kept in step with ROLE_PERMISSIONS after every `migrate` (and every
test-database flush) by a `post_migrate` handler, so every database has them without a manual
step and a change here needs no migration. A user's role is their group.
"""

CLINIC_STAFF = "Clinic staff"
CLINICIAN = "Clinician"
CLINIC_ADMIN = "Clinic admin"
PATIENT = "Patient"

_FRONT_DESK = [
    "patients.view_patient",
    "patients.add_patient",
    "patients.change_patient",
    "treatments.view_treatmentsession",
    "treatments.add_treatmentsession",
    "treatments.change_treatmentsession",
    "treatments.view_followup",
    "treatments.change_followup",  # mark a planned follow-up missed (attendance)
    "treatments.view_followuprevision",
    "treatments.view_followupphoto",
    "treatments.add_followupphoto",
    "treatments.view_productlot",
    "treatments.view_sessionvial",
    "treatments.view_room",
    "treatments.view_protocolversion",
    "reminders.view_reminder",
    "reminders.change_reminder",  # resend a failed one
    "reminders.view_deliveryattempt",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CLINIC_STAFF: _FRONT_DESK,
    CLINICIAN: _FRONT_DESK
    + [
        "treatments.record_nsaid_decision",
        "treatments.complete_treatmentsession",
        "treatments.add_sessionvial",
        "treatments.record_findings",
        "audit.view_record_history",
    ],
    CLINIC_ADMIN: _FRONT_DESK
    + [
        "treatments.record_nsaid_decision",
        "treatments.complete_treatmentsession",
        "treatments.add_sessionvial",
        "treatments.add_productlot",
        "treatments.change_productlot",
        "treatments.add_room",
        "treatments.change_room",
        "treatments.add_protocolversion",
        "treatments.change_protocolversion",
        "treatments.add_followup",
        "treatments.record_findings",
        "audit.view_record_history",
    ],
    # Patients see their own records through the portal, which checks ownership; they hold
    # no model permissions.
    PATIENT: [],
}


def sync_roles(*, using: str = "default") -> None:
    """Create the role groups and set exactly their permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            found = list(
                Permission.objects.using(using).filter(
                    content_type__app_label=app_label, codename=codename
                )
            )
            if not found:
                raise LookupError(f"Role {role!r} names {dotted}, which does not exist.")
            wanted.extend(found)
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender, *, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (accounts' own signal, sent once per migrate or flush).

    Django creates each app's permissions in the post_migrate of that app, and accounts comes
    before the apps whose permissions the roles name: create them all first (idempotent).
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    sync_roles(using=using)


STAFF_ROLES = (CLINIC_STAFF, CLINICIAN, CLINIC_ADMIN)


def roles_of(user) -> set[str]:
    """The user's roles; a superuser is a clinic admin. Cached on the user for the request."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_clinic_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached.add(CLINIC_ADMIN)
        user._clinic_roles = cached
    return cached


def is_staff_member(user) -> bool:
    return bool(roles_of(user) & set(STAFF_ROLES))


def is_clinic_admin(user) -> bool:
    return CLINIC_ADMIN in roles_of(user)


def is_patient(user) -> bool:
    return PATIENT in roles_of(user) and not is_staff_member(user)


def role_grants(user, permission: str) -> bool:
    """Whether the user's roles grant `permission`, read from ROLE_PERMISSIONS (which the
    migrations write into the groups) and the roles cached for the request: a page can ask
    without the two permission queries of `has_perm`. The services still ask `has_perm`."""
    if user.is_active and user.is_superuser:
        return True
    return any(permission in ROLE_PERMISSIONS.get(role, ()) for role in roles_of(user))
