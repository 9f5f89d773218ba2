"""Tree SHAP for the two tree partners, in probability units of one class, on their encoded inputs.

Both forests are rewritten into shap's own tree form before shap reads them, for two reasons:
- shap's reader of HistGradientBoostingClassifier takes every split as a numeric threshold and ignores the
  categorical ones (a bitset of the categories that go left). Each categorical split becomes a small search over
  threshold splits on the same code, routing every code to a copy of the subtree the model sends it to.
- shap's interventional pass compares inputs in single precision with thresholds in double, so a value equal or
  close to a threshold (imputed medians, thresholds that are data values) can take the other branch than the model
  does, and attributions then miss the prediction. Inputs are therefore given as the number of that feature's
  thresholds below them and thresholds as k + 0.5: the same decisions, exact in any precision.
The rewritten trees must predict what the model predicts; that is checked on every call.

Gradient boosting: interventional tree SHAP against the reference rows with model_output="probability": exact
Shapley values in log-odds, each reference pair rescaled by the sigmoid's secant (units.py).

Random forest: its output is already a probability. Exact tree SHAP on the deep forests it grows (leaves of 3
rows, thousands of leaves a tree) costs far over the scoring budget per row, path-dependent or interventional, so
by default each tree's path contributions are used (Saabas, shap's approximate=True: the change of the tree's
expected value at each split on the row's path, credited to the split's column), centred on their mean over the
reference rows; exact interventional SHAP stays available for one applicant at a time (`ftbot explain`). Every
method is additive: rows sum to P(x) − mean P over the reference rows (bench/explain_partners.py measures how far
the path contributions are from exact).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

FOREST_METHODS = ("saabas", "path", "interventional")
_converted: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass
class Coded:
    """A tree ensemble as shap reads it exactly: `model` (shap's dictionary form) on inputs passed through
    `encode`."""
    model: dict
    cuts: dict[int, np.ndarray]          # feature → its split thresholds, sorted
    single: bool = False                 # the model compares inputs in single precision (scikit-learn's trees)

    def encode(self, W: np.ndarray) -> np.ndarray:
        """Each thresholded input as the number of its feature's thresholds below it (blanks stay blank), so the
        model's x <= t is code <= k + 0.5."""
        out = np.array(W, dtype=np.float64, copy=True)
        for f, cuts in self.cuts.items():
            x = out[:, f].astype(np.float32).astype(np.float64) if self.single else out[:, f]
            out[:, f] = np.where(np.isnan(x), np.nan, np.searchsorted(cuts, x, side="left"))
        return out


def _cached(model, key, build):
    hits = _converted.setdefault(model, {})
    if key not in hits:
        hits[key] = build()
    return hits[key]


def _sorted_cuts(pairs) -> dict[int, np.ndarray]:
    cuts: dict[int, set] = {}
    for f, t in pairs:
        cuts.setdefault(int(f), set()).add(float(t))
    return {f: np.asarray(sorted(v), dtype=np.float64) for f, v in cuts.items()}


def _code(cuts: dict[int, np.ndarray], f: int, threshold: float) -> float:
    return float(np.searchsorted(cuts[f], threshold)) + 0.5          # x <= t  ⟺  code <= k


# ---- gradient boosting ---------------------------------------------------------------------------------------
def hgb_model(model) -> Coded:
    """The rewritten trees of a fitted two-class HistGradientBoostingClassifier (log-odds of classes_[1])."""
    if len(model._predictors[0]) != 1:
        raise ValueError("gradient boosting with more than two classes is not supported")
    return _cached(model, ("hgb", id(model._predictors)), lambda: _hgb(model))


def _hgb(model) -> Coded:
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    cuts = _sorted_cuts((n["feature_idx"], n["num_threshold"]) for p in model._predictors for n in p[0].nodes
                        if not n["is_leaf"] and not n["is_categorical"])
    trees = [_convert(p[0].nodes, p[0].raw_left_cat_bitsets, known, f_idx_map, cuts) for p in model._predictors]
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)[0]
    return Coded({"trees": trees, "base_offset": float(base), "tree_output": "log_odds",
                  "objective": "binary_crossentropy", "input_dtype": np.float64, "internal_dtype": np.float64}, cuts)


def _in_bitset(bitset: np.ndarray, v: int) -> bool:
    return bool((int(bitset[v // 32]) >> (v % 32)) & 1)


class _Tree:
    """Growing arrays of one tree in shap's layout; nodes are appended parent first, so the root is node 0."""

    def __init__(self):
        self.cols = {k: [] for k in ("children_left", "children_right", "children_default", "features",
                                     "thresholds", "values", "node_sample_weight")}

    def add(self, feature=-2, threshold=0.0, value=0.0, weight=0.0) -> int:
        for k, v in (("children_left", -1), ("children_right", -1), ("children_default", -1), ("features", feature),
                     ("thresholds", threshold), ("values", [value]), ("node_sample_weight", weight)):
            self.cols[k].append(v)
        return len(self.cols["features"]) - 1

    def link(self, node: int, left: int, right: int, default: int) -> None:
        self.cols["children_left"][node], self.cols["children_right"][node] = left, right
        self.cols["children_default"][node] = default

    def arrays(self) -> dict:
        out = {k: np.asarray(v, dtype=np.float64) for k, v in self.cols.items()}
        for k in ("children_left", "children_right", "children_default", "features"):
            out[k] = out[k].astype(np.int64)
        return out


def _convert(nodes: np.ndarray, raw_bitsets: np.ndarray, known: np.ndarray, f_idx_map: np.ndarray,
             cuts: dict[int, np.ndarray]) -> dict:
    """One HistGradientBoosting predictor tree → shap's tree dictionary on coded inputs, same prediction
    everywhere."""
    tree = _Tree()

    def build(i: int) -> int:
        n = nodes[i]
        if n["is_leaf"]:
            return tree.add(value=float(n["value"]), weight=float(n["count"]))
        if not n["is_categorical"]:
            f = int(n["feature_idx"])
            me = tree.add(f, _code(cuts, f, float(n["num_threshold"])), float(n["value"]), float(n["count"]))
            left, right = build(int(n["left"])), build(int(n["right"]))
            tree.link(me, left, right, left if n["missing_go_to_left"] else right)
            return me
        return route(n, _runs(n, raw_bitsets, known, f_idx_map))

    def route(n, runs: list[tuple[float, bool]]) -> int:
        """Balanced threshold splits over runs of codes [(first code, goes left)]; blanks follow the first run,
        which always holds the negative codes and so goes where the model sends missing values."""
        if len(runs) == 1:
            return build(int(n["left"] if runs[0][1] else n["right"]))
        mid = len(runs) // 2
        me = tree.add(int(n["feature_idx"]), runs[mid][0] - 0.5, float(n["value"]), float(n["count"]))
        left, right = route(n, runs[:mid]), route(n, runs[mid:])
        tree.link(me, left, right, left)
        return me

    build(0)
    return tree.arrays()


def _runs(n, raw_bitsets: np.ndarray, known: np.ndarray, f_idx_map: np.ndarray) -> list[tuple[float, bool]]:
    """Where a categorical split sends each code, as runs [(first code, goes left)]. As the model predicts: a code in
    the left bitset goes left, another known code right, negative and unknown codes where missing values go."""
    missing_left = bool(n["missing_go_to_left"])
    left_set, known_set = raw_bitsets[int(n["bitset_idx"])], known[int(f_idx_map[int(n["feature_idx"])])]
    runs = [(-np.inf, missing_left)]
    for v in range(256):
        goes = True if _in_bitset(left_set, v) else False if _in_bitset(known_set, v) else missing_left
        if goes != runs[-1][1]:
            runs.append((float(v), goes))
    return runs


def hgb_attributions(model, Z, Z_ref, class_index: int) -> np.ndarray:
    """Interventional tree SHAP of P(class) against the reference rows (rows × the model's input features).
    Z, Z_ref: what the model's pipeline hands it (object arrays when categories are present)."""
    import shap
    coded = hgb_model(model)
    W, W_ref = coded.encode(_internal(model, Z)), coded.encode(_internal(model, Z_ref))
    explainer = shap.TreeExplainer(coded.model, data=W_ref, feature_perturbation="interventional",
                                   model_output="probability")
    _check_same(explainer.model.predict(np.vstack([W_ref, W[:256]])),
                model.predict_proba(np.asarray(list(Z_ref) + list(Z[:256])))[:, 1], "gradient-boosting")
    phi = np.asarray(explainer.shap_values(W, check_additivity=False), dtype=np.float64)
    phi = phi if class_index == 1 else -phi        # P(class 0) = 1 − P(class 1)
    out = np.zeros((phi.shape[0], model.n_features_in_))
    out[:, _internal_owner(model)] = phi
    return out


def _internal(model, Z) -> np.ndarray:
    """What the trees read: the model encodes categorical inputs once more (its own OrdinalEncoder, categorical
    features first) before its trees see them."""
    pre = getattr(model, "_preprocessor", None)
    return np.asarray(Z if pre is None else pre.transform(Z), dtype=np.float64)


def _internal_owner(model) -> np.ndarray:
    """For each feature the trees read, the model input it comes from."""
    pre = getattr(model, "_preprocessor", None)
    if pre is None:
        return np.arange(model.n_features_in_)
    owner = np.empty(model.n_features_in_, dtype=np.int64)
    for name, _, selection in pre.transformers_:
        if name in pre.output_indices_:
            owner[pre.output_indices_[name]] = np.arange(model.n_features_in_)[selection]
    return owner


def _check_same(ours, theirs, what: str) -> None:
    """The rewritten trees must predict what the model predicts: a changed scikit-learn tree layout fails here,
    loudly, instead of giving wrong reasons."""
    ours, theirs = np.asarray(ours, dtype=np.float64).reshape(-1), np.asarray(theirs, dtype=np.float64).reshape(-1)
    if not np.allclose(ours, theirs, rtol=0.0, atol=1e-6):
        raise RuntimeError(f"{what} trees were not read correctly (largest difference "
                           f"{np.max(np.abs(ours - theirs)):.3g} in probability); this scikit-learn version's tree "
                           "layout is not supported")


# ---- random forest -------------------------------------------------------------------------------------------
def forest_model(model, class_index: int) -> Coded:
    """The trees of a fitted RandomForestClassifier, each leaf worth its share of P(class) (1/trees of it)."""
    return _cached(model, ("forest", class_index, id(model.estimators_)), lambda: _forest(model, class_index))


def _forest(model, class_index: int) -> Coded:
    inner = [e.tree_ for e in model.estimators_]
    cuts = _sorted_cuts((f, t) for tree in inner for f, t, left in zip(tree.feature, tree.threshold,
                                                                        tree.children_left) if left != -1)
    trees = []
    for tree in inner:
        leaf = tree.children_left == -1
        counts = tree.value[:, 0, :]
        share = counts[:, class_index] / np.maximum(counts.sum(axis=1), 1e-300)
        coded = np.zeros(tree.node_count)
        for f in np.unique(tree.feature[~leaf]):
            at = ~leaf & (tree.feature == f)
            coded[at] = np.searchsorted(cuts[int(f)], tree.threshold[at]) + 0.5
        goes_left = getattr(tree, "missing_go_to_left", np.ones(tree.node_count, dtype=np.uint8))
        trees.append({"children_left": tree.children_left.astype(np.int64),
                      "children_right": tree.children_right.astype(np.int64),
                      "children_default": np.where(leaf, -1, np.where(goes_left == 1, tree.children_left,
                                                                      tree.children_right)).astype(np.int64),
                      "features": np.where(leaf, -2, tree.feature).astype(np.int64),
                      "thresholds": coded,
                      "values": (share / len(inner)).reshape(-1, 1),
                      "node_sample_weight": tree.weighted_n_node_samples.astype(np.float64)})
    return Coded({"trees": trees, "base_offset": 0.0, "input_dtype": np.float64, "internal_dtype": np.float64},
                 cuts, single=True)


def forest_attributions(model, Z: np.ndarray, Z_ref: np.ndarray, class_index: int, method: str = "saabas"
                        ) -> np.ndarray:
    """Attributions of P(class) of a fitted RandomForestClassifier against the reference rows (rows × encoded
    features). method: "saabas" (path contributions, fast), "path" (path-dependent tree SHAP), both centred on
    the reference rows; "interventional" (exact SHAP against the reference rows, slowest)."""
    import shap
    if method not in FOREST_METHODS:
        raise ValueError(f"forest method {method!r} is not one of {FOREST_METHODS}")
    coded = forest_model(model, class_index)
    W, W_ref = coded.encode(np.asarray(Z, dtype=np.float64)), coded.encode(np.asarray(Z_ref, dtype=np.float64))
    if method == "interventional":
        explainer = shap.TreeExplainer(coded.model, data=W_ref, feature_perturbation="interventional")
    else:
        explainer = shap.TreeExplainer(coded.model, feature_perturbation="tree_path_dependent")
    _check_same(explainer.model.predict(np.vstack([W_ref, W[:256]])),
                model.predict_proba(np.vstack([Z_ref, Z[:256]]).astype(np.float64))[:, class_index],
                "random-forest")
    if method == "interventional":
        return np.asarray(explainer.shap_values(W, check_additivity=False), dtype=np.float64)
    approximate = method == "saabas"
    phi = np.asarray(explainer.shap_values(W, approximate=approximate, check_additivity=False), dtype=np.float64)
    ref = np.asarray(explainer.shap_values(W_ref, approximate=approximate, check_additivity=False),
                     dtype=np.float64)
    return phi - ref.mean(axis=0, keepdims=True)
