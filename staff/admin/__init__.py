"""The model admins of the staff product, one module per app whose models they show (the admin
imports this package at start-up, as it does every app's `admin`). The admin site's titles are
set here, once."""

from django.contrib import admin

from . import blocks, chats, diffs  # noqa: F401 (each registers its ModelAdmins)

admin.site.site_header = "YouLab staff"
admin.site.site_title = "YouLab staff"
admin.site.index_title = "All models"
admin.site.site_url = None  # no public site: the staff landing page is the review queue
admin.site.enable_nav_sidebar = False  # the header's staff navigation replaces it; lists get the width
