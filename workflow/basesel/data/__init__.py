"""Datasets on disk: ImageFolder indexes and checks (folders), the paper's subsets and probe sets
(subsets), decoding images into model inputs (preprocessing, images), the embedded datasets
(synthetic) and the layouts of torchvision's dataset classes (tvdatasets)."""
