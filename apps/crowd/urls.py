from django.urls import path

from . import views

app_name = "crowd"
urlpatterns = [
    path("<slug:slug>/", views.entry, name="entry"),
    path("<slug:slug>/consent/", views.consent, name="consent"),
    path("<slug:slug>/instructions/", views.instructions, name="instructions"),
    path("<slug:slug>/qualification/", views.qualification, name="qualification"),
    path("<slug:slug>/screened-out/", views.screened_out, name="screened_out"),
    path("<slug:slug>/annotate/", views.annotate, name="annotate"),
    path("<slug:slug>/submit/<int:assignment_id>/", views.annotation_submit, name="submit"),
    path("<slug:slug>/skip/<int:assignment_id>/", views.assignment_skip, name="skip"),
    path("<slug:slug>/done/", views.done, name="done"),
    path("<slug:slug>/resume/", views.resume, name="resume"),
    path(
        "<slug:slug>/media/<int:assignment_id>/<str:key>/",
        views.assignment_media,
        name="media",
    ),
    path(
        "<slug:slug>/media/<int:assignment_id>/<str:key>/played/",
        views.media_played,
        name="media_played",
    ),
]
