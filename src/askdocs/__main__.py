"""`python -m askdocs`: the same as the `askdocs` command."""

from askdocs.cli.app import main

main()
