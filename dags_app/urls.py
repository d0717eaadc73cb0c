"""URLs of the definition views (namespace ``dags``)."""

from django.urls import path

from dags_app import views

app_name = "dags"

urlpatterns = [
    path("dags/<str:dag_id>/code/", views.dag_code, name="code"),
    path("dags/<str:dag_id>/details/", views.dag_details, name="details"),
]
