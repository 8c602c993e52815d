from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control

from apps.core import errors
from apps.core.registry import task_type_urlpatterns

handler500 = errors.server_error


@cache_control(max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages that name no icon (Django's admin) make browsers ask for /favicon.ico."""
    return redirect(static("img/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("p/", include("apps.crowd.urls")),
    path("api/", include("apps.api.urls")),
    path("projects/<slug:slug>/models/", include("apps.training.urls")),
    *task_type_urlpatterns(),
    path("", include("apps.dashboard.urls")),
]

# MEDIA_ROOT is never served as a folder, not even in development: item media go through
# access-checked views (a participant gets only the files of the items they hold).
