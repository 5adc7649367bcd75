"""Request processing and the application: routing, validation, auth, API
design.

See docs/application/ for the pages that walk through these modules.
"""
