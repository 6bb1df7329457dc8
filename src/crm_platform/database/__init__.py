"""Database tier: RDS for PostgreSQL primary and its cross-region read replica."""
