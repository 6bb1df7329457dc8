"""Cost controls in us-east-1 (budget, anomaly detection, usage report) and the estimate."""
