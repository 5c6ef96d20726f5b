"""A researcher's own random-subset-sum bound, registered with lth-toolkit (an example package).

``lth_example_bound.claims`` registers the claim ``example.fixed_size_rss`` through the ``lth.claims``
entry point of this package's ``pyproject.toml``; its proof is ``proofs/fixed_size_rss.md`` inside this
package, its tests are in the project's ``tests/`` folder.
"""
