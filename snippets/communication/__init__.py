"""Communication and protocols: sockets, DNS, HTTP, TLS, real-time and APIs.

See docs/communication/ for the pages that walk through these modules.
"""
