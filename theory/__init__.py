"""The library: the constructions from the proofs, their rigorous certificates and the solvers they need.

Each module builds one mathematical object from tensors and returns typed objects (tickets,
certificates, witnesses: :mod:`lth.theory.objects`); it opens no files and parses no flags. Its
docstring states the object and the shapes, and ``proofs/<topic>.md`` the theorem. The harness
(:mod:`lth.registry`, the claims, the command line) imports these modules, never the other way round.

- Random subset sum: :mod:`lth.theory.subset_sum` (exact batched solvers),
  :mod:`lth.theory.subset_sum_merge` (their compiled CPU kernels), :mod:`lth.theory.lueker` (the bound),
  :mod:`lth.theory.fixed_size_subset_sum`, :mod:`lth.theory.multidim_subset_sum`.
- Strong lottery tickets: :mod:`lth.theory.dense` and :mod:`lth.theory.dense_bounds` (Pensia et al.),
  :mod:`lth.theory.conv`, :mod:`lth.theory.sparse`, :mod:`lth.theory.hyperbolic`, :mod:`lth.theory.depth`,
  :mod:`lth.theory.residual`, :mod:`lth.theory.attention`, :mod:`lth.theory.transformer`,
  :mod:`lth.theory.llama_layer`; universal tickets: :mod:`lth.theory.universal`.
- Rigour and devices: :mod:`lth.theory.certify` (certificates of perturbed ReLU networks),
  :mod:`lth.theory.numerics` (float64 rounding bounds), :mod:`lth.theory.device`.
"""

__version__ = "0.1.0"
