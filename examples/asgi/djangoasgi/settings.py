"""
Settings of the Django ASGI example (the routes every example under
examples/asgi/ has; see views.py).  No database.  The SECRET_KEY is fixed
because this is an example; a real deployment reads its own from the
environment.

CsrfViewMiddleware is left out: this is a JSON/upload API driven by test
clients without a CSRF cookie, and Django 3.2's csrf_exempt cannot wrap
an async view (it turns it into a sync one returning a coroutine).
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = 'example-only-not-secret-5d2e8a1c7b3f4e6a9c0d1b2e3f4a5b6c'
DEBUG = False
ALLOWED_HOSTS = ['*']

INSTALLED_APPS = ['django.contrib.staticfiles']

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.middleware.common.CommonMiddleware',
]

ROOT_URLCONF = 'djangoasgi.urls'
ASGI_APPLICATION = 'djangoasgi.asgi.application'

DATABASES = {}

USE_TZ = True
TIME_ZONE = 'UTC'
LANGUAGE_CODE = 'en-us'
USE_I18N = False

# examples/asgi/static, served at /static/ by asgi.py's
# ASGIStaticFilesHandler (a deployment puts nginx in front instead).
STATIC_URL = '/static/'
STATICFILES_DIRS = [BASE_DIR / 'static']

# Where the background task and the examples' markers go.
STATE_DIR = os.environ.get('ASGI_EXAMPLE_STATE', '/tmp')
