"""Base models: the paper's architecture registry (archs, torch-free), their builders and
checkpoints (paper), the models users already have (zoo: torchvision, timm, snapshot folders), and
the one forward-pass tap every family is read through (tap)."""
