"""Explainers on cnn_cam.digits: the model-randomisation sanity check (Adebayo et al. 2018) and
deletion/insertion AUC (RISE) against random maps, for every gradient/CAM method, on the first
64 test digits. Writes ``explainers.json`` beside this file and re-renders the card.

Run from the repository root: ``python hubcards/cnn_cam.digits/explainer_report.py``
(needs the visionzoo-explainers plugin).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

import zoo
from zoo.cards import rewrite_card
from zoo.data import get_dataset
from zoo_explainers.faithfulness import evaluate, format_reports

CARD = Path(__file__).resolve().parent
N_IMAGES = 64
METHODS = ("cam", "gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad", "integrated_gradients",
           "guided_backprop")


def main() -> None:
    torch.set_num_threads(1)
    config = json.loads((CARD / "config.json").read_text())
    model = zoo.create(CARD.name, weights=CARD / "model.safetensors")
    test = get_dataset("digits", "test", **config["dataset"]["kwargs"])
    images = torch.stack([test[i]["image"] for i in range(N_IMAGES)])
    methods = [m for m in METHODS if m in zoo.list_explainers()]
    reports = evaluate(model, images, methods, target=None, steps=32, n_random=3, seed=0,
                       method_kwargs={"smoothgrad": {"n_samples": 16}} if "smoothgrad" in methods else None)
    print(format_reports(reports))
    rows = [{"method": r.method, "rank corr. vs randomised model": round(r.rank_corr_randomized, 4),
             "same, of abs. maps": round(getattr(r, "rank_corr_randomized_abs", r.rank_corr_randomized), 4),
             "sanity check": "pass" if r.sanity_passed else "FAIL",
             "deletion AUC (lower is better)": round(r.deletion_auc, 4),
             "random deletion AUC": round(r.random_deletion_auc, 4),
             "insertion AUC (higher is better)": round(r.insertion_auc, 4),
             "random insertion AUC": round(r.random_insertion_auc, 4),
             "beats random (deletion)": "yes" if r.beats_random else "no",
             "notes": "; ".join(r.notes)} for r in reports]
    summary = (f"Measured with `python hubcards/{CARD.name}/explainer_report.py` on the first {N_IMAGES} test "
               "digits, explaining the predicted class. Sanity check: Spearman rank correlation between the "
               "maps of this model and of a copy with re-initialised weights (passes below 0.5; for the "
               "signed Integrated Gradients maps the signed correlation decides and the one of their "
               "magnitudes is shown beside it). Deletion/insertion AUC (Petsiuk et al. 2018, 32 steps) of the class probability, "
               "against the mean of 3 random maps.")
    (CARD / "explainers.json").write_text(json.dumps({"summary": summary, "rows": rows,
                                                      "raw": [asdict(r) for r in reports]}, indent=2) + "\n")
    rewrite_card(CARD)


if __name__ == "__main__":
    main()
