"""Attendance Intake: the domain (certificates, sheets, status, export) and the command line."""

__version__ = "0.1.0"
