"""Storage: the attachment buckets (replicated primary to DR) and their access-log targets."""
