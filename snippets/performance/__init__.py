"""Performance and scalability: latency, profiling, concurrency, load balancing.

See docs/performance/ for the pages that walk through these modules.
"""
