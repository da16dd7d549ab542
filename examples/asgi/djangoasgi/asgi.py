"""
ASGI entry point of the Django example:

    bridge --http :8000 --asgi djangoasgi.asgi:application -w 2
    python3 -m uvicorn djangoasgi.asgi:application

Django 3.2 answers HTTP only: it has no lifespan protocol (servers that
ask are told it is unsupported and go on).
"""
import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'djangoasgi.settings')

application = ASGIStaticFilesHandler(get_asgi_application())
