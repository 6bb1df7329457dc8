"""The versioned price tables (one YAML file per reading of AWS's price pages)."""
