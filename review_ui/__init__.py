"""The web app: review queue, grouped verification, unidentified pages, sheet view, mailroom,
printing, the providers' pages and the public look-up, admin, the JSON API; login and roles.

Thin over the domain (`attendance`) and intake: it decides who may do what and how it looks,
never a rule or a reading.
"""
