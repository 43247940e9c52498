"""Where and when the clinic group treats: its sites (each with its own clock), their weekly
opening hours and closures, the clinicians' working hours at a site and their absences.

Reference data, edited by clinic admins in the Django admin. Times of day are wall-clock
times on the site's own clock (a 09:00 opening is 09:00 local before and after a DST
change); absences and closures are stored as their instants / days. Which bookings these
allow is decided by sites.hours (pure) and treatments.availability (one load per range).
"""

import zoneinfo

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            "%(value)s is not a time zone (e.g. Europe/Berlin).",
            code="invalid",
            params={"value": value},
        ) from exc


@pghistory.track()
class Site(models.Model):
    name = models.CharField(max_length=100, unique=True)
    address = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone],
        help_text="The site's clock (IANA name, e.g. Europe/Berlin): its opening hours, its "
        "session days and the times its patients read.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def city(self) -> str:
        """The zone's city, as times name it: "09:00 Berlin time"."""
        return self.time_zone.rsplit("/", 1)[-1].replace("_", " ")


def default_site_id() -> int:
    """The default site (the first one; made from CLINIC_NAME and CLINIC_TIME_ZONE when there
    is none): rooms made without a site go there, so a single-site clinic sees no sites."""
    site = Site.objects.order_by("pk").first()
    if site is None:
        site = Site.objects.create(name=settings.CLINIC_NAME, time_zone=settings.CLINIC_TIME_ZONE)
    return site.pk


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyHours(models.Model):
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField(help_text="On the site's clock.")
    closes = models.TimeField(help_text="On the site's clock, the same day.")

    class Meta:
        abstract = True

    def clean(self):
        if self.opens is not None and self.closes is not None and self.closes <= self.opens:
            raise ValidationError({"closes": "Closing must be after opening, the same day."})


@pghistory.track()
class OpeningHours(WeeklyHours):
    """One interval a site is open on a weekday (several a day are allowed: a lunch break).

    A site with no opening hours at all refuses nothing (a clinic that has not set them up)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="opening_hours")

    class Meta:
        ordering = ["site", "weekday", "opens"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")), name="opening_hours_closes_after_opening"
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="opening_hours_weekday"
            ),
        ]

    def __str__(self):
        return f"{self.site}: {self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


@pghistory.track()
class SiteClosure(models.Model):
    """Days a site is closed although its weekly hours say open (holidays, works)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="closures")
    first_day = models.DateField()
    last_day = models.DateField(help_text="Inclusive.")
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["site", "first_day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=F("first_day")), name="site_closure_days_in_order"
            )
        ]

    def __str__(self):
        return f"{self.site} closed {self.first_day}–{self.last_day}: {self.reason}"

    def clean(self):
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValidationError({"last_day": "The last day cannot be before the first."})


@pghistory.track()
class WorkingHours(WeeklyHours):
    """When a clinician works at a site on a weekday (on the site's clock). At a site with
    opening hours, a clinician works there only within their working hours."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="working_hours")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )

    class Meta:
        ordering = ["site", "clinician", "weekday", "opens"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")), name="working_hours_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="working_hours_weekday"
            ),
        ]

    def __str__(self):
        return (
            f"{self.clinician} at {self.site}: {self.get_weekday_display()} "
            f"{self.opens:%H:%M}–{self.closes:%H:%M}"
        )


@pghistory.track()
class ClinicianAbsence(models.Model):
    """A clinician away (leave, illness, a course), at every site, from `starts_at` to
    `ends_at`."""

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="absences"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="absence_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["clinician", "starts_at"], name="absence_clinician_idx")]

    def __str__(self):
        return f"{self.clinician} away from {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The absence must end after it starts."})


def active_sites():
    """The sites in service, by name: what the booking, waitlist and self-booking pages offer."""
    return Site.objects.filter(is_active=True).order_by("name")
