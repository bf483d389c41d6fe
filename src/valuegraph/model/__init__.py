"""The model side (torch, transformers, sae-lens): loading, scoring engine, steering hooks.

Only this subpackage and the collection driver import torch; the analysis side never does.
"""
