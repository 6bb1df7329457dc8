"""Stacks compose and wire constructs; they hold no resource code of their own."""
