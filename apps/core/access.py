"""Permission-checking helpers: every object reaches a view through one of these.

An object the user may not see answers 404, never 403, so ids of other projects leak nothing.
"""

from __future__ import annotations

from django.http import Http404

from .models import Membership, Project


def membership_for(user, project: Project) -> Membership | None:
    if not user.is_authenticated:
        return None
    if project.owner_id == user.pk:
        return Membership(project=project, user=user, role=Membership.Role.OWNER)
    return Membership.objects.filter(project=project, user=user).first()


def project_for_user(request, slug: str, *, write: bool = False, owner: bool = False) -> Project:
    """The project ``slug`` if ``request.user`` is a member with enough rights, else 404."""
    project = Project.objects.filter(slug=slug).select_related("owner").first()
    if project is None:
        raise Http404("No such project.")
    member = membership_for(request.user, project)
    if member is None:
        raise Http404("No such project.")
    if owner and member.role != Membership.Role.OWNER:
        raise Http404("Only the project's owner can do this.")
    if write and not member.can_write:
        raise Http404("Viewers cannot change this project.")
    project.role = member.role  # for templates: what this user may do
    return project


def projects_for_user(user):
    """Every project the user owns or is a member of."""
    from django.db.models import Q

    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(Q(owner=user) | Q(memberships__user=user)).distinct()
