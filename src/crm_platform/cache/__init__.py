"""Cache tier: the Redis-compatible ElastiCache replication group Twenty needs to start."""
