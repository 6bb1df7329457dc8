"""AWS Backup: a vault per region, a daily plan that copies to DR at once, tested restores."""
