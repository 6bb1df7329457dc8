"""Compliance gates: cdk-nag rule packs and the per-finding acknowledgement helper."""
