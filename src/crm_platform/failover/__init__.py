"""Failover: the traffic switch the DR region controls, and (later) the DR orchestrator."""
