"""djangorestframework-api-key registers its own APIKey model in the admin; YouLab's agent keys
are youlab.models.AgentKey (with scopes), so that page would only make keys that open nothing."""

from django.contrib import admin
from rest_framework_api_key.models import APIKey

if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)
