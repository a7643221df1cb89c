"""The routers of the HTTP API."""
