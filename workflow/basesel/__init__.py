"""basesel: base model selection for efficient fine-tuning (the seed paper's methodology as a workflow)."""
__version__ = "0.1.0"
