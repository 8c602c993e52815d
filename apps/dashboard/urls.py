from django.urls import path

from . import views

app_name = "dashboard"
urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("account/api-token/", views.api_token, name="api_token"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/delete/", views.project_delete, name="project_delete"),
    path("projects/<slug:slug>/data/", views.project_data, name="data"),
    path(
        "projects/<slug:slug>/data/samples/<slug:key>/", views.import_sample, name="import_sample"
    ),
    path("projects/<slug:slug>/data/jobs/<int:job_id>/", views.job_status, name="job_status"),
    path(
        "projects/<slug:slug>/data/items/<int:item_id>/media/<str:key>/",
        views.item_media,
        name="item_media",
    ),
    path(
        "projects/<slug:slug>/data/jobs/<int:job_id>/cancel/",
        views.job_cancel,
        name="job_cancel",
    ),
    path("projects/<slug:slug>/launch/", views.project_launch, name="launch"),
    path("projects/<slug:slug>/progress/", views.project_progress, name="progress"),
    path("projects/<slug:slug>/quality/", views.project_quality, name="quality"),
    path(
        "projects/<slug:slug>/participants/<uuid:public_id>/block/",
        views.participant_block,
        name="participant_block",
    ),
    path("projects/<slug:slug>/results/", views.project_results, name="results"),
    path(
        "projects/<slug:slug>/results/figures/<slug:key>.<str:fmt>",
        views.results_figure,
        name="results_figure",
    ),
    path("projects/<slug:slug>/export/", views.project_export, name="export"),
    path("projects/<slug:slug>/export/hf/", views.hf_export_start, name="hf_export_start"),
    path("projects/<slug:slug>/export/hf/<int:job_id>/", views.hf_export_status, name="hf_export"),
    path(
        "projects/<slug:slug>/export/hf/<int:job_id>/cancel/",
        views.hf_export_cancel,
        name="hf_export_cancel",
    ),
    path(
        "projects/<slug:slug>/export/hf/<int:job_id>/download/",
        views.hf_export_download,
        name="hf_export_download",
    ),
    path(
        "projects/<slug:slug>/export/<str:what>.<str:fmt>",
        views.export_download,
        name="export_download",
    ),
]
