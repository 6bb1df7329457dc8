"""Test package. Importing crm_platform first points jsii at the bundled Node 24 before any
test module imports aws_cdk (the jsii runtime starts on that first import)."""

import crm_platform  # noqa: F401
