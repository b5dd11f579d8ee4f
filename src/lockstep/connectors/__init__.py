"""One package per external system (``centra/``, ``deposco/``) plus the plumbing they share.

Flows talk to typed clients; only ``*/translate.py`` knows the APIs' field names.
"""
