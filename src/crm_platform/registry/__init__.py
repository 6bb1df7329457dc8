"""Twenty's image registry: the repository, its DR replica's rules, the publish build.

Deployed in every environment before any application stack (stacks/registry.py), with or
without the release pipeline (docs/adr/0039).
"""
