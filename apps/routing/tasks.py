"""Routing's Celery tasks; each is also a management command, so the embedded mode can run it by hand."""
