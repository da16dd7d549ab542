from django.urls import path

from . import views

urlpatterns = [
    path('', views.hello),
    path('echo', views.echo),
    path('upload', views.upload),
    path('stream', views.stream),
    path('background', views.background),
    path('background/<str:token>', views.background_status),
    path('sleep', views.sleep),
    path('headers', views.headers),
    path('error', views.error),
]
