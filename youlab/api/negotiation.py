"""Content negotiation: DRF's, answered at once for what agents send."""

from rest_framework.negotiation import DefaultContentNegotiation

# Accept headers that pick the first renderer (the API renders JSON only) exactly as DRF's
# negotiation would, without parsing and ranking them (bench/profile_api.py: ~0.1 ms a request).
_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})


class JSONNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "").strip()
        if (
            format_suffix is None
            and accept in _PLAIN_ACCEPT
            and renderers[0].media_type == "application/json"
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
