"""Edge: CloudFront, WAF and the Route 53 records in front of both regions."""
