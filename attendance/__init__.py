"""The domain: certificates, sheets and their status, the receipt, the programs' rules and what
they find, the review queue and its decisions, agency settings, notices, export.

Owns the database (models, migrations) and every change of a sheet's status (`lifecycle`).
Must not import `intake`, `scanner`, `review_ui` or `cli` (it may use `forms`: a sheet's layout
is part of what a sheet is); the packages above hand it plain records (`receipt.PageRecord`).
"""

__version__ = "0.4.0"
