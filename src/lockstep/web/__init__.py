"""HTTP surface: health, readiness, metrics (and, in later issues, webhooks, admin API and dashboard)."""
