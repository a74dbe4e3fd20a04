"""OpenAPI description of the site-key authentication (drf-spectacular picks this up when imported)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SiteKeyScheme(OpenApiAuthenticationExtension):
    target_class = "sites.auth.SiteKeyAuthentication"
    name = "siteKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A site's API key (`X-API-Key` also accepted)."}
