"""Whether a dataset is decoded into memory once or streamed from disk: the one test that both the
image loader (images.image_dataset) and the cluster estimates (resources.py) apply.

A module of its own, free of torch and of the cost model: the training and pass scripts import it,
so it is part of their code digest (codedeps.py), and an edit to the cost model's assumed rates,
which changes no result, reruns no job.
"""


def fits_preload(images: int, input_size: int, budget_mb: float) -> bool:
    """Whether `images` RGB images of `input_size` px fit in `budget_mb` MiB decoded (uint8)."""
    return images * 3 * input_size * input_size / 2**20 <= budget_mb
