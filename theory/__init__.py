"""lth-toolkit: numerical verification of lottery-ticket theory.

The library lives in this package: constructions from the proofs (`subset_sum`, ...), rigorous
certificates, the claim registry (`registry`) and the command line (`cli`).
"""

__version__ = "0.1.0"
