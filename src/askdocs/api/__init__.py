"""The HTTP service: a thin adapter over askdocs services."""
