"""Minitron (Muralidharan et al. 2024): structured pruning of a Llama-style causal LM by activation
importance, then recovery by knowledge distillation from the unpruned teacher.

Modules, named after the mathematics:

* :mod:`.llama`        the model: loading a local Llama-style checkpoint or GGUF file offline, always
                       causally (one loading path for base, teacher and pruned models), its sizes from
                       the config alone, its :class:`~.llama.Architecture` (hidden, heads, KV heads, MLP
                       width, layers);
* :mod:`.corpus`       two text sources split by file and cut into windows: the Python standard
                       library's sources (code) and the Python documentation (English prose, python3-doc);
* :mod:`.importance`   width importance (heads, MLP neurons, embedding channels) with the aggregation
                       grid, depth importance (perplexity drop, Block Importance), baselines, perplexity;
* :mod:`.pruning`      GQA-aware structured pruning to a target architecture, one-shot and iterative;
* :mod:`.distillation` forward-KL logit distillation (optional intermediate-state loss) and plain
                       next-token fine-tuning with the same tokens;
* :mod:`.certified_layer` a certified strong ticket for one decoder layer (lth.theory.llama_layer) measured
                       on held-out text: hidden states, the residual-norm floor, errors, perplexity.

Everything takes tensors / models and returns typed objects; no file here is written.
"""
