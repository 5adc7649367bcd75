"""Backups and recovery: copies you can restore, taken while the database runs.

Two parts, in the order of the page (`docs/data/backups.md`, "Backups and
recovery"):

- `copies`: the bank the page copies, why a replica is not a backup, why a
  copy of a live file is unsafe, and SQLite's two safe ways to copy a live
  database (the online backup API and `VACUUM INTO`), taken while a writer
  commits;
- `recovery`: point-in-time recovery in principle (a base backup plus a
  change log replayed up to a chosen moment), and a restore drill that catches
  a backup script which has been backing up an empty database all along.

Run them: `python -m snippets.data.backups.copies`, then
`python -m snippets.data.backups.recovery`.
"""
