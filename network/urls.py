from django.contrib import admin
from django.urls import include, path

handler404 = "network.handlers.not_found"
handler500 = "network.handlers.crashed"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("network.api_urls")),
]
