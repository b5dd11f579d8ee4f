"""Persistence: table definitions, engine set-up, migrations and repositories.

Everything that must survive a crash is a row here. SQLite (default, WAL) and PostgreSQL are both first-class.
"""
