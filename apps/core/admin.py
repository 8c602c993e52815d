from django.contrib import admin

from .models import (
    Annotation,
    Assignment,
    Item,
    ItemMedia,
    Job,
    Membership,
    Participant,
    Project,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "task_type", "status", "overlap", "owner", "created_at")
    list_filter = ("status", "task_type")
    search_fields = ("slug", "title")
    inlines = [MembershipInline]


class ItemMediaInline(admin.TabularInline):
    """Read-only: media arrive through the zip import, and are reached through the Data tab
    (the storage has no public URL)."""

    model = ItemMedia
    extra = 0
    fields = readonly_fields = ("key", "content_type", "size", "created_at")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("external_id", "project", "kind", "priority", "answer_count", "stage")
    list_filter = ("kind", "project")
    search_fields = ("external_id",)
    raw_id_fields = ("parent",)
    inlines = [ItemMediaInline]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("external_id", "source", "project", "status", "consented_at", "created_at")
    list_filter = ("status", "source", "project")
    search_fields = ("external_id",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "participant", "status", "reserved_at", "expires_at")
    list_filter = ("status",)
    raw_id_fields = ("item", "participant")


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "item", "participant", "duration_ms", "created_at")
    raw_id_fields = ("assignment", "item", "participant")
    list_filter = ("project",)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "project", "status", "progress", "created_at")
    list_filter = ("status", "kind")
