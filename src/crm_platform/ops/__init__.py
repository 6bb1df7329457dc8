"""What an operator runs: synthesis, static checks, CDK CLI delegation."""
