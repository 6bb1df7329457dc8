"""What AWS offers, as data the settings are validated against (no CDK imports).

Configuration is the ground floor of the package: constructs may import these
catalogues, but nothing here imports a construct.
"""
