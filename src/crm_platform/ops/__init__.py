"""Live operator actions against an AWS account: deploy (plan, preflight, the sequence),
the traffic switch, the failover command and DR readiness."""
