from django.contrib import admin

from .models import ClinicianAbsence, OpeningHours, Site, SiteClosure, WorkingHours


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


class SiteClosureInline(admin.TabularInline):
    model = SiteClosure
    extra = 0


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "is_active"]
    inlines = [OpeningHoursInline, SiteClosureInline]


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ["clinician", "site", "weekday", "opens", "closes"]
    list_filter = ["site", "weekday"]
    list_select_related = ["clinician", "site"]


@admin.register(ClinicianAbsence)
class ClinicianAbsenceAdmin(admin.ModelAdmin):
    list_display = ["clinician", "starts_at", "ends_at", "reason"]
    list_select_related = ["clinician"]
