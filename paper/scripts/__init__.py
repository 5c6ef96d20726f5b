"""Figure scripts: one module per figure, each registered with ``lth.figures.figure``."""
