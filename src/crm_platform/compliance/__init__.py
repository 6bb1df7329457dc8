"""Compliance gates: cdk-nag rule packs and the per-finding acknowledgement helper."""

# Construct metadata type under which every acknowledgement is recorded in the assembly
# (kept here, free of CDK imports, so readers of an assembly need not load the CDK).
METADATA_KEY = "crm-platform:acknowledged"
