"""The sheet: its layout as data (one source of truth for printing and for reading), the PDF
rendering, serials and the QR payload.

The bottom of the stack: imports no other package of the project, and knows nothing of
scans or of the database.
"""
