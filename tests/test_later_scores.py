"""PARC, NCTI and ETran against the numbers their authors' own code gives on this file's arrays.

The authors' code was run outside the project (its functions copied into a scratch folder, never
here) on the arrays `case` builds; only the numbers are kept, each with its repository, commit and
function. Where the authors' code breaks on such input, the number is that of their code with the
one substitution this project's definition makes (docs/metrics.md), named beside it:
- PARC (dbolya/parc @ ddfca43a84d35328897d107d6f86e860b11801ce, methods.PARC.forward with
  feature_reduce): PCA to min(32, n - 1, d) dimensions (their PARC(n_dims=32) raises when d < 32),
  an exact PCA with scikit-learn 1.9's component signs, and exact 0/1 label dissimilarities (their
  1 - np.corrcoef(one-hot) leaves 0 or 2.2e-16 for same-class pairs with 3 classes, which
  Spearman then ranks);
- NCTI (BUserName/NCTI @ b18d39514a3f2a7a949500b467a38b93de1428e4, metrics.NCTI_Score and the
  combination of evaluate_metric_group1_cpu.py lines 140-171), scikit-learn 1.9.1: PCA to
  min(64, n - 1, d) (their PCA(64) raises below 64 images or dimensions);
- ETran (mgholamikn/ETran @ d4551ed8f41f4ed6eba08b9cc1a78bae178acd19, metrics.LDA_Score,
  metrics.Energy_Score(X, 0.5, 'bot') and tw.py lines 64-86): at least one image in the energy
  (their floor(n / 200) images is none below 200 images, a NaN).
"""
import importlib

import numpy as np
import pytest
from scipy import stats

from basesel import BaseselError
from basesel.science.transfer import etran, ncti

parc = importlib.import_module("basesel.science.transfer.parc")  # the module: the package names its function parc


def case(seed, counts, d, z=8, scale=2.0):
    """Features (n, d) of Gaussian classes, labels, and a source softmax (n, z) (unused by all three)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    centers = rng.normal(0.0, scale, size=(len(counts), d))
    x = centers[y] + rng.normal(size=(len(y), d))
    logits = rng.normal(size=(len(y), z))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return x, y, p / p.sum(1, keepdims=True)


UNBALANCED = case(0, (30, 12, 5, 20), 16)
N_BELOW_D = case(1, (6, 4, 3), 40)
POOL = [case(10 + k, (25, 25, 10), 24, scale=s) for k, s in enumerate((0.5, 1.0, 2.0, 3.0))]
WIDE = case(7, (40, 30, 30), 128)  # PARC(n_dims=32) runs unmodified here: an exact PCA to 32 gives
BIG = case(8, (200, 120, 80), 16)  # 400 images: ETran's own energy takes 2 images


# --- PARC -------------------------------------------------------------------------------------

PARC_REFERENCE = [  # (case, dims, value)
    (UNBALANCED, 32, 27.609252065964572), (N_BELOW_D, 32, -9.870046551906746),
    (POOL[0], 32, 9.418841638913781), (POOL[1], 32, 16.233776953605894), (POOL[2], 32, 18.853421362550655),
    (POOL[3], 32, 19.57392696388821), (WIDE, 32, 19.908241411647076),
    # their n_dims=None: no PCA (K = 4 has no label rounding, so this is their code unmodified)
    (UNBALANCED, None, 78.6656805986699), (N_BELOW_D, None, 79.45387474284931), (POOL[0], None, 25.980361334964837),
    (POOL[3], None, 83.35728268025531),
]


@pytest.mark.parametrize("data, dims, expected", PARC_REFERENCE)
def test_parc_is_the_authors(data, dims, expected):
    x, y, p = data
    assert parc.parc(x, y, p, dims=dims) == pytest.approx(expected, rel=1e-11)


def test_parc_against_scipy_on_every_pair_and_counted_in_chunks(monkeypatch):
    """The Mann-Whitney count equals scipy's Spearman over the explicit pairs; a first pass of 64
    bins and chunks of 50 pairs (blocks of 7 rows) give it bit for bit."""
    x, y, _ = case(4, (9, 7, 7, 5), 12)
    z = (x - x.mean(0)) / x.std(0)
    upper = np.triu_indices(len(y), 1)
    expected = 100 * stats.spearmanr((1 - np.corrcoef(z))[upper], (y[:, None] != y[None, :])[upper]).statistic
    whole = parc.parc(x, y, dims=None)
    assert whole == pytest.approx(expected, rel=1e-11)
    monkeypatch.setattr(parc, "CHUNK", 50)
    monkeypatch.setattr(parc, "BINS", 64)
    monkeypatch.setattr(parc, "ROWS", 7)
    assert parc.parc(x, y, dims=None) == whole
    # ties among the dissimilarities (two copies of an image, equal to 12 decimals): average ranks, as scipy
    x2, y2 = np.r_[x, x[:3]], np.r_[y, y[:3]]
    z2 = (x2 - x2.mean(0)) / x2.std(0)
    upper = np.triu_indices(len(y2), 1)
    rdm = np.round(1 - np.corrcoef(z2), 12)[upper]
    expected = 100 * stats.spearmanr(rdm, (y2[:, None] != y2[None, :])[upper]).statistic
    assert len(np.unique(rdm)) < len(rdm)  # there are ties
    assert parc.parc(x2, y2, dims=None) == pytest.approx(expected, rel=1e-9)
    assert parc.parc(x2, y2, dims=None) == whole_with(monkeypatch, x2, y2)


def whole_with(monkeypatch, x, y):
    """PARC counted in one chunk, for comparison with the chunked count."""
    monkeypatch.setattr(parc, "CHUNK", 10**8)
    monkeypatch.setattr(parc, "BINS", 2**20)
    return parc.parc(x, y, dims=None)


# --- NCTI -------------------------------------------------------------------------------------

NCTI_REFERENCE = [  # (case, seli, ncc, vc)
    (UNBALANCED, 111.68842050667283, 1.0, 2.7504409563257672),
    (N_BELOW_D, 28.646274102569357, 0.999999994815343, 1.8215675258706108),
    (POOL[0], 27.381100065164283, 0.935089454574988, 2.707619568436017),
    (POOL[1], 53.34059508987252, 0.9999997336727293, 2.5773557465867394),
    (POOL[2], 106.69839852683293, 1.0, 2.577354985402391),
    (POOL[3], 214.93066562488758, 1.0, 2.577354985402391),
]


@pytest.mark.parametrize("data, seli, ncc, vc", NCTI_REFERENCE)
def test_ncti_parts_are_the_authors(data, seli, ncc, vc):
    x, y, _ = data
    got = ncti.ncti_parts(x, y)
    assert got["seli"] == pytest.approx(seli, rel=1e-9)
    assert got["ncc"] == pytest.approx(ncc, rel=1e-9)
    assert got["vc"] == pytest.approx(vc, rel=1e-9)


def test_ncti_shrinkage_branch_and_the_pools_combination():
    x, y, _ = UNBALANCED
    # features x 0.1: the first 32 variances sum below ln(1e10): eigen solver, shrinkage 0.592 (theirs)
    small = ncti.ncti_parts(x * 0.1, y)
    assert (small["seli"], small["ncc"], small["vc"]) == pytest.approx(
        (93.3555831282296, 0.9999999999989817, 2.750440956328326), rel=1e-9)
    parts = [ncti.ncti_parts(x, y) for x, y, _ in POOL]
    combined = ncti.combine({k: np.array([p[k] for p in parts]) for k in ncti.PARTS})
    assert combined == pytest.approx([-1.0, 1.138404104065003, 1.4229137946811763, 2.0], rel=1e-9)  # their combination
    # a part on which every model ties scales to 0 (theirs: 0 / 0); a model without its parts: NaN
    tied = ncti.combine({"seli": np.array([1.0, 2.0, 3.0]), "ncc": np.ones(3), "vc": np.array([2.0, 2.0, 2.0])})
    assert tied == pytest.approx([0.0, 0.5, 1.0])
    gap = ncti.combine({"seli": np.array([1.0, np.nan, 3.0]), "ncc": np.array([0.5, 0.7, 1.0]), "vc": np.ones(3)})
    assert np.isnan(gap[1]) and gap[[0, 2]] == pytest.approx([0.0, 2.0])


# --- ETran ------------------------------------------------------------------------------------

ETRAN_REFERENCE = [  # (case, energy, lda): energy of the lowest image where theirs takes none, else theirs
    (UNBALANCED, 2.9463811654833933, 0.9999999997760441), (N_BELOW_D, 4.615552533356761, 1.0),
    (POOL[0], 3.069989024932913, 0.8859005911652726), (POOL[1], 3.1525615120214554, 0.9999398040027305),
    (POOL[2], 3.3871767375074655, 1.0), (POOL[3], 4.863419980324064, 1.0),
    (BIG, 3.3365099082161973, 1.0),  # their own Energy_Score: floor(400 / 200) = 2 images
]


@pytest.mark.parametrize("data, energy, lda", ETRAN_REFERENCE)
def test_etran_parts_are_the_authors(data, energy, lda):
    x, y, _ = data
    got = etran.etran_parts(x, y)
    assert got["energy"] == pytest.approx(energy, rel=1e-12)
    assert got["lda"] == pytest.approx(lda, rel=1e-12)


def test_etran_pools_combination():
    parts = [etran.etran_parts(x, y) for x, y, _ in POOL]
    combined = etran.combine({k: np.array([p[k] for p in parts]) for k in etran.PARTS})
    assert combined == pytest.approx([0.0, 0.8564578059559684, 0.8765291266124076, 1.0], rel=1e-9)  # their tw.py


# --- all three ----------------------------------------------------------------------------------

@pytest.mark.parametrize("score", [lambda x, y: parc.parc(x, y), lambda x, y: ncti.ncti_parts(x, y),
                                   lambda x, y: etran.etran_parts(x, y)], ids=["PARC", "NCTI", "ETran"])
def test_invariant_to_permuting_images_and_relabelling_classes(score):
    x, y, _ = UNBALANCED
    base = score(x, y)
    perm = np.random.default_rng(5).permutation(len(y))
    for other in (score(x[perm], y[perm]), score(x, (y + 1) % 4), score(x, np.array(list("dcba"))[y])):
        if isinstance(base, dict):
            assert other == pytest.approx(base, rel=1e-10)
        else:
            assert other == pytest.approx(base, rel=1e-10)


def test_degenerate_input_gives_a_clear_error():
    x, y, _ = case(6, (5, 5), 4)
    with pytest.raises(BaseselError, match="PARC: every pair of images is of different classes"):
        parc.parc(x[:4], np.arange(4))
    # constant features (a dead network's): documented values, not an error or NaN
    flat = np.ones((10, 4))
    assert parc.parc(flat, y) == 0.0 and parc.parc(np.zeros((10, 4)), y, dims=None) == 0.0
    # by hand: no separation; every image given the class frequencies (1/2, 1/2): ncc 1/2, and each
    # class block of five rows (1/2, 1/2) has nuclear norm sqrt(5) / sqrt(2): vc = log(2 sqrt(5/2))
    assert ncti.ncti_parts(flat, y) == pytest.approx({"seli": 0.0, "ncc": 0.5, "vc": np.log(2 * np.sqrt(2.5))})
    with pytest.raises(BaseselError, match="NCTI: needs more images"):
        ncti.ncti_parts(x[:2], y[[0, 9]])
    with pytest.raises(BaseselError, match="at least 2 classes"):
        etran.etran_parts(x, np.zeros(10))
    assert all(np.isfinite(v) for v in etran.etran_parts(flat, y).values())


# --- the pooled scores where the workflow and `basesel rank` combine them ------------------------

def test_pooled_scores_are_combined_within_each_group_never_across():
    """The analysis combines NCTI's and ETran's parts over the models of each (arch, target) group:
    each group's combined score is the combination of that group's parts alone."""
    import pandas as pd

    from basesel.science.analysis import with_pooled

    rng = np.random.default_rng(9)
    rows = []
    for arch, target in (("a", "t1"), ("a", "t2"), ("b", "t1")):
        for k in range(4):
            rows.append({"arch": arch, "source": f"s{k}", "target": target,
                         **{f"NCTI.{p}": float(rng.uniform(0, 10)) for p in ncti.PARTS},
                         **{f"NCTI.{p}@probe": float(rng.uniform(0, 10)) for p in ncti.PARTS},
                         **{f"ETran.{p}": float(rng.uniform(0, 1)) for p in etran.PARTS}})
    table = with_pooled(pd.DataFrame(rows))
    for (arch, target), g in table.groupby(["arch", "target"]):
        for name, module, suffix in (("NCTI", ncti, ""), ("NCTI", ncti, "@probe"), ("ETran", etran, "")):
            expected = module.combine({p: g[f"{name}.{p}{suffix}"].to_numpy() for p in module.PARTS})
            np.testing.assert_allclose(g[name + suffix], expected, rtol=1e-12)
    assert "ETran@probe" not in table.columns  # its parts are not in the table


def test_rank_combines_pooled_scores_over_its_candidates():
    """`basesel rank` combines the parts over the candidates ranked together; a candidate whose part
    does not apply gets no combined score, and says why."""
    import pandas as pd

    from basesel.rank import pooled
    from basesel.science.featuremap_scores import NOT_APPLICABLE

    parts = {"seli": [3.0, 1.0, 2.0], "ncc": [0.9, 0.8, 1.0], "vc": [2.0, 2.5, 2.1]}
    table = pd.DataFrame({"model": ["a", "b", "c"], **{f"NCTI.{p}@probe": v for p, v in parts.items()}})
    reasons = [{}, {}, {}]
    out = pooled(table.copy(), reasons)
    np.testing.assert_allclose(out["NCTI@probe"].astype(float), ncti.combine({p: np.array(v) for p, v in parts.items()}))
    table = table.astype({"NCTI.vc@probe": object})
    table.loc[1, "NCTI.vc@probe"] = NOT_APPLICABLE
    out = pooled(table.copy(), reasons)
    assert out["NCTI@probe"][1] == NOT_APPLICABLE and "NCTI@probe" in reasons[1]


def test_one_not_applicable_policy_in_the_workflow_and_in_rank(tmp_path):
    """A score the input leaves undefined (kNN's k=5 neighbours among 4 images) is 'not applicable'
    with its reason, in a workflow job's baselines (baseline_scores) and in `basesel rank` alike;
    the other scores of the same features are computed. Before, the job failed."""
    import h5py

    from basesel.rank import _baselines
    from basesel.science.featuremap_scores import NOT_APPLICABLE
    from basesel.science.transfer import FEATURE_SCORES, baseline_scores

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 6)).astype(np.float32), np.array([0, 0, 1, 1])
    with h5py.File(tmp_path / "features.h5", "w") as f:
        f["features"], f["feature_labels"] = x, y
    names = [n for n in FEATURE_SCORES if n not in ("LEEP", "NCE")]  # no source head here
    job = baseline_scores(tmp_path / "features.h5", names)
    reasons = {}
    ranked = _baselines(names, x, y, None, "", reasons)
    assert job["kNN"] == ranked["kNN"] == NOT_APPLICABLE
    assert job["not_applicable"]["kNN"] == reasons["kNN"] == "kNN: k=5 needs between 1 and n - 1 = 3 other images"
    assert set(job["not_applicable"]) == set(reasons)
    for name, value in ranked.items():
        assert job[name] == value or (value != NOT_APPLICABLE and np.isclose(job[name], value)), name
    # an error that is not about the input still fails: a bug is never a note
    with pytest.raises(TypeError):
        baseline_scores(tmp_path / "features.h5", names, options={"kNN": {"neighbours": 3}})
