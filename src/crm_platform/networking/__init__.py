"""Networking: the VPC of one region and the tier security groups."""
