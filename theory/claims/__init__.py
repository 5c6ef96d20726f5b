"""Registered claim checks, one module per topic (mirrors ``proofs/<topic>.md``).

Every module here is imported by ``theory.registry.all_claims``.
"""
