"""
WSGI entry point of the example project, served by bridge:

    bridge --http :8000 --wsgi myproject.wsgi:application \
        --chdir examples/django
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'myproject.settings')

application = get_wsgi_application()
