"""Centra Integration API (GraphQL): client, translation, webhook verification."""
