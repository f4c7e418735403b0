"""safealign: measure how unsafe a language model is, align it, and guard it in deployment."""

from safealign.errors import SafealignError

__version__ = "0.1.0"
__all__ = ["SafealignError", "__version__"]
