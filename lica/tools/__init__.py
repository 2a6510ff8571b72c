"""Command-line tools that are not part of training (run with ``python -m lica.tools.NAME``)."""
