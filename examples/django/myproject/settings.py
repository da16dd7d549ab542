"""
Settings of bridge's example Django project: as small as a real project
gets, no database.  The SECRET_KEY is fixed because this is an example;
a real deployment reads its own from the environment.
"""
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = 'example-only-not-secret-8c1f0d7e5b2a4c3e9f6a1b0d2e4f6a8c'
DEBUG = False
ALLOWED_HOSTS = ['*']

INSTALLED_APPS = []

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
]

ROOT_URLCONF = 'myproject.urls'
WSGI_APPLICATION = 'myproject.wsgi.application'

DATABASES = {}

USE_TZ = True
TIME_ZONE = 'UTC'
LANGUAGE_CODE = 'en-us'
USE_I18N = False

# Files served by the download view (through wsgi.file_wrapper).
FILES_DIR = BASE_DIR / 'files'
