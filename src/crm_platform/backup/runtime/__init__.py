"""Lambda code shipped as an asset: standard library and the runtime's boto3 only."""
