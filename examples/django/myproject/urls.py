from django.urls import path

from . import views

urlpatterns = [
    path('', views.hello),
    path('json/', views.json_view),
    path('form/', views.form),
    path('upload/', views.upload),
    path('download/<str:name>', views.download),
]
