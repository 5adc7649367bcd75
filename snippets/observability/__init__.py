"""Observability: logs, metrics, traces, health checks, SLOs and production.

See docs/observability/ for the pages that walk through these modules.
"""
