"""Torch jobs: schedules (torch-free), training, pretraining, the workflow's forward passes to HDF5
(passes), fine-tuning, Figure 1 (curves) and Appendix A.2 (layers)."""
