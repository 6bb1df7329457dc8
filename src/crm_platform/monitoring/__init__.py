"""Monitoring: alert topics and alarms."""
