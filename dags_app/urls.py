from django.urls import path

from dags_app import views

app_name = "dags"

urlpatterns = [
    path("", views.dag_list, name="list"),
]
