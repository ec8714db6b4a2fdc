"""The GPU check's comparison with the CPU (benchmarks/gpu_check.py): what holds and what fails."""
import importlib.util

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def frame(values, score="scores:S1", target="shapes"):
    return pd.DataFrame({"model": [f"m{i}" for i in range(len(values))], "target": target, "score": score,
                         "value": np.asarray(values, dtype=float)})


def verdict(cpu, dev):
    (row,) = gpu_check.compare(frame(cpu), frame(dev))
    return row[3], row[-1].split(":")[0]


def test_identical_values_hold():
    assert verdict([0.0, 1.0, 2.0, 10.0], [0.0, 1.0, 2.0, 10.0]) == (0.0, "holds")


def test_a_difference_is_measured_in_thousandths_of_the_spread():
    # spread 10: the tolerance is 0.01
    worst, status = verdict([0.0, 1.0, 2.0, 10.0], [0.0, 1.005, 2.0, 10.0])
    assert worst == pytest.approx(0.5) and status == "holds"
    worst, status = verdict([0.0, 1.0, 2.0, 10.0], [0.0, 1.02, 2.0, 10.0])
    assert worst == pytest.approx(2.0) and status == "FAILS"


def test_order_of_clearly_different_models_must_hold_but_near_ties_may_swap():
    # tolerance 0.01: 5.0 and 5.015 differ clearly; each moved by 0.009 (within tolerance) they swap
    worst, status = verdict([0.0, 5.0, 5.015, 10.0], [0.0, 5.009, 5.006, 10.0])
    assert worst == pytest.approx(0.9) and status == "FAILS"
    # 5.0 and 5.005 are within tolerance of each other: a swap is noise, not a changed ranking
    assert verdict([0.0, 5.0, 5.005, 10.0], [0.0, 5.004, 5.001, 10.0])[1] == "holds"


def test_a_nan_on_one_side_only_fails():
    assert verdict([0.0, np.nan, 2.0], [0.0, 1.0, 2.0])[1] == "FAILS"
    assert verdict([0.0, np.nan, 2.0], [0.0, np.nan, 2.0])[1] == "holds"


def test_one_row_per_target_and_score():
    cpu = pd.concat([frame([1, 2, 3]), frame([1, 2, 3], score="baselines:LogME"), frame([1, 2, 3], target="digits")])
    rows = gpu_check.compare(cpu, cpu)
    assert sorted((r[2], r[1]) for r in rows) == [("digits", "scores:S1"), ("shapes", "baselines:LogME"),
                                                   ("shapes", "scores:S1")]
