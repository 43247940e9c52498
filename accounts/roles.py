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

# Each action a page or a service offers is a permission; a role is the list of permissions it
# holds. Views ask `role_grants` (accounts.decorators.permission_required) and services ask
# `has_perm`: nothing decides by the name of a group. README's "Who may do what" is this
# table in words; tests/test_permission_table.py holds the two together and walks every
# action for every role.
_FRONT_DESK = [
    "patients.view_patient",  # the patient list and a patient's page
    "patients.add_patient",
    "patients.change_patient",  # contact, zone, medications (not an active portal login)
    "patients.invite_patient",  # the portal invitation
    "treatments.view_treatmentsession",  # the schedule and a session's page
    "treatments.add_treatmentsession",  # book
    "treatments.change_treatmentsession",  # check in, no-show, move, cancel
    "treatments.change_followup",  # mark a planned follow-up missed (attendance)
    "treatments.change_sideeffectreport",  # mark a patient's report dealt with
    "treatments.change_changerequest",  # answer a patient's request to move or cancel
    "reminders.change_reminder",  # resend a failed one
    "reminders.read_inbox",  # the SMS patients send: read them, mark them read
    "consents.add_consent",  # take a patient's signature at the desk (as the witness)
    "treatments.view_productlot",  # the lots: stock, warnings, quarantine, recall report
    "treatments.change_recallrecipient",  # record a recall phone call (or unreachable)
    "consents.change_consent",  # record a patient's withdrawal of a consent at the desk
    "treatments.view_waitlistentry",  # the waitlist of a site and the freed times offered
]
# What a clinician adds: the clinical record. Clinical photos are theirs too: the front desk
# neither takes them (photos come with a follow-up's findings) nor needs to see them.
_CLINICAL = [
    "treatments.record_findings",
    "treatments.view_followupphoto",
    "treatments.complete_treatmentsession",
    "treatments.record_nsaid_decision",
    "patients.review_intake",  # a patient's intake questionnaire, before their sessions
    "treatments.amend_session_record",  # a completed session's record, with a reason
    "audit.view_record_history",  # who changed and who looked at a record
    "treatments.write_off_productlot",  # vials wasted or destroyed, with a reason
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CLINIC_STAFF: _FRONT_DESK,
    CLINICIAN: _FRONT_DESK + _CLINICAL,
    CLINIC_ADMIN: _FRONT_DESK
    + _CLINICAL
    + [
        "treatments.review_followup",  # the review of every patient's follow-ups
        "treatments.export_followup",  # its CSV export
        "patients.export_patient_data",  # a subject access request's export
        "patients.merge_patient",
        "patients.change_portal_login",  # the email of an active portal account
        "reminders.monitor_delivery",  # delivery status and the failed reminders
        "accounts.use_back_office",  # the Django admin, where the rest below is done
        "treatments.add_productlot",
        "treatments.change_productlot",
        "treatments.hold_productlot",  # quarantine a lot, release it
        "treatments.recall_productlot",  # start a recall (notices to every recipient), CSV
        "treatments.add_room",
        "treatments.change_room",
        "treatments.add_roomoutofservice",
        "treatments.change_roomoutofservice",
        "treatments.delete_roomoutofservice",
        "sites.add_site",
        "sites.change_site",
        "sites.add_openinghours",
        "sites.change_openinghours",
        "sites.delete_openinghours",
        "sites.add_siteclosure",
        "sites.change_siteclosure",
        "sites.delete_siteclosure",
        "sites.add_workinghours",
        "sites.change_workinghours",
        "sites.delete_workinghours",
        "sites.add_clinicianabsence",
        "sites.change_clinicianabsence",
        "sites.delete_clinicianabsence",
        "treatments.add_protocolversion",
        "treatments.change_protocolversion",
        "consents.add_consentdocument",
        "consents.change_consentdocument",
        "consents.add_consentversion",
        "consents.change_consentversion",
        "auth.add_user",  # staff accounts and their roles
        "auth.change_user",
        # What the back office shows beside a session, a follow-up and a reminder.
        "treatments.view_sessionvial",
        "treatments.view_followuprevision",
        "reminders.view_deliveryattempt",
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
        cached = remember_roles(user, user.groups.values_list("name", flat=True))
    return cached


def remember_roles(user, group_names) -> set[str]:
    """Cache on the user the roles of these group names (the user's groups, read by the
    caller: accounts.backends reads them with the user)."""
    cached = set(group_names)
    if user.is_superuser:
        cached.add(CLINIC_ADMIN)
    user._clinic_roles = cached
    return cached


def is_staff_member(user) -> bool:
    return bool(roles_of(user) & set(STAFF_ROLES))


def is_patient(user) -> bool:
    return PATIENT in roles_of(user) and not is_staff_member(user)


class Grants:
    """`role_grants` for templates: `{% if may.treatments.review_followup %}`."""

    def __init__(self, user):
        self.user = user

    def __getitem__(self, app_label: str) -> "_AppGrants":
        return _AppGrants(self.user, app_label)


class _AppGrants:
    def __init__(self, user, app_label: str):
        self.user, self.app_label = user, app_label

    def __getitem__(self, codename: str) -> bool:
        return role_grants(self.user, f"{self.app_label}.{codename}")


def role_grants(user, permission: str) -> bool:
    """Whether the user's roles grant `permission`, read from ROLE_PERMISSIONS (which the
    migrations write into the groups) and the roles cached for the request: a page can ask
    without the two permission queries of `has_perm`. The services still ask `has_perm`."""
    if user.is_active and user.is_superuser:
        return True
    return any(permission in ROLE_PERMISSIONS.get(role, ()) for role in roles_of(user))
