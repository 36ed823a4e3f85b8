"""Taking scans in: the one-shot run, the watched folder (stable-file claims, page jobs,
workers under leases, archive and quarantine), uploads from the web, batch reports.

Owns the files: originals stored by content hash, page images, work folders. It reads pages
with `scanner` and hands each page to the domain's receipt (`attendance.receipt`) in the
transaction that finishes its job. Must not hold recognition logic or decide what a page
means for its sheet.
"""
