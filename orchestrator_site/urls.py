from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api_app import auth as api_auth
from api_app.api import not_found as api_not_found
from api_app.api import urls as api_urls

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v2/", api_urls()),
    path("api/v2/<path:rest>", api_not_found),
    path("auth/token", api_auth.token, name="api-token"),
    path("", include("dags_app.urls")),
    path("", include("runs_app.urls")),
]
