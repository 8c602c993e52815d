from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.model_list, name="model_list"),
    path("train/", views.model_train, name="model_train"),
    path("settings/", views.modelloop_settings, name="settings"),
    path("versions/<int:pk>/activate/", views.modelversion_activate, name="activate"),
    path("versions/<int:pk>/predict/", views.modelversion_predict, name="predict"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
]
