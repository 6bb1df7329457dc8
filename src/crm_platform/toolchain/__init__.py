"""The toolchain: synthesis, static checks, the CDK CLI, tools installed beside the venv."""
