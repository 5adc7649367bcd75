"""Data and persistence: durability, SQL, indexes, transactions, caching,
replication.

See docs/data/ for the pages that walk through these modules.
"""
