from django.urls import path

from . import views

urlpatterns = [
    path('', views.hello, name='hello'),
    path('json/', views.json_view, name='json'),
    path('form/', views.form, name='form'),
    path('upload/', views.upload, name='upload'),
    path('download/<str:name>', views.download, name='download'),
]
