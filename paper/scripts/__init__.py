"""Figure scripts: one module per figure, each registered with ``theory.figures.figure``."""
