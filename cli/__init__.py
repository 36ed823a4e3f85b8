"""The `attend` command line: one module per area of commands, thin over the packages below.

It sits on top of every package (forms, scanner, intake, attendance, review_ui) and nothing
imports it. Errors become one line on standard error and a stable exit code: the command
line's own (`CommandError`) or the kind an error of the packages below carries
(`attendance.errors`).
"""
