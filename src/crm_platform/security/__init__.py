"""Security: the region's customer-managed key and the application's generated secrets."""
