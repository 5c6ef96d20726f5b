"""Registered claim checks, one module per topic (mirrors ``proofs/<topic>.md``).

Every module here is imported by ``lth.registry.all_claims``.
"""
