from django.contrib import admin

from .models import ConsentDocument, ConsentVersion


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "kind")
    list_filter = ("kind",)


@admin.register(ConsentVersion)
class ConsentVersionAdmin(admin.ModelAdmin):
    list_display = ("document", "number", "language", "published_at")
    list_filter = ("document", "language")
    readonly_fields = ("sha256", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # Patients signed these words: once published, a version is frozen (the database
        # refuses a change too) and a change is made as a new version.
        if obj is not None and obj.is_published:
            return [f.name for f in self.model._meta.fields]
        return list(self.readonly_fields)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)
