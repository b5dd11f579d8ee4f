"""Deposco WMS: REST client (OAuth2), legacy V1 inventory (basic auth), translation, webhook checks."""
