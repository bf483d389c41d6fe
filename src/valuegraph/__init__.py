"""valuegraph: measure the causal structure of a language model's values and steer them.

Stages (one module or subpackage each): items -> roles -> model (responses) -> matrix ->
discovery -> effects / steering evaluation -> report. The analysis modules never import torch.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
