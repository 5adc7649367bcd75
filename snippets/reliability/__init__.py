"""Reliability: errors, timeouts, retries, idempotency, rate limits, graceful
shutdown.

See docs/reliability/ for the pages that walk through these modules.
"""
