"""The `askdocs` command line: a thin adapter over the services."""
