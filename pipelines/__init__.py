"""User-facing jobs and the ``audiotok`` command line."""
