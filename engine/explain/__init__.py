"""Why a credit model answered as it did: per-column attributions of what is served, reasons in plain words, and the
smallest single change that flips a decision.

Building blocks (the served model combines them):
- reference.Reference: the training population reasons are measured against (saved with the run).
- partners.partner_attributions: the sklearn partners and their soft vote, probability units, against the
  reference rows (exact for logistic regression, tree SHAP for the trees).
- occlusion.occlusion_attributions: any model that scores rows (the fine-tuned transformer), per column;
  occlusion.finetuned_predictor: that model's score with one encoder pass per distinct text it reads;
  occlusion.linear_feature_attributions: the exact log-odds part of its column-features head.
- units.probability_attributions: log-odds parts into probability units, so a blend
  P = w·P_finetuned + (1 − w)·P_partner is explained by w·A_finetuned + (1 − w)·A_partner.
- reasons.reasons, counterfactual.smallest_flip, faithfulness.faithfulness.
"""
from engine.explain.counterfactual import no_flip_words, smallest_flip
from engine.explain.faithfulness import faithfulness
from engine.explain.occlusion import (column_logits, feature_slots, finetuned_predictor,
                                      linear_feature_attributions, occlusion_attributions)
from engine.explain.partners import UnsupportedModel, linear_log_odds, partner_attributions
from engine.explain.reasons import reason_columns, reasons
from engine.explain.reference import Reference
from engine.explain.units import probability_attributions

__all__ = ["Reference", "partner_attributions", "linear_log_odds", "UnsupportedModel", "occlusion_attributions",
           "finetuned_predictor", "linear_feature_attributions", "column_logits", "feature_slots",
           "probability_attributions", "reasons", "reason_columns", "smallest_flip", "no_flip_words", "faithfulness"]
