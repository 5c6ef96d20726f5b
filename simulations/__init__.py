"""Simulations of pruning phenomena on real data: winning tickets by iterative magnitude pruning,
late resetting, random controls and ticket transfer (Frankle & Carbin 2019; Frankle et al. 2019;
Morcos et al. 2019)."""
