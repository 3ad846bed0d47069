"""AttrFormer in a run: `ranker.kind attrformer` gives a run the Recommender serves with, and rankers saved under
RUN/rankers/<name>/ become systems of `eccr evaluate`."""
from __future__ import annotations

import dataclasses
import shutil

import pytest

from eccr.rank.attrformer import AttrFormerScorer


@pytest.fixture(scope="module")
def attrformer_run(tiny_run, tmp_path_factory):
    """A copy of the tiny run whose ranker is an AttrFormer and with a SASRec ablation under rankers/sasrec."""
    import torch

    from eccr.jobs.train import sequential_ranker
    from eccr.represent.vectors import ItemVectors
    from eccr.run import Run, load_run_config, split_dataset

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("attrformer_run") / "run"
    shutil.copytree(tiny_run, root, ignore=shutil.ignore_patterns("checkpoints", "lm*", "report*"))
    run = Run(root)
    config = load_run_config(root)
    config = dataclasses.replace(config, ranker=dataclasses.replace(config.ranker, max_epochs=2, progress=False),
                                 attrformer=dataclasses.replace(config.attrformer, hidden=20, layers=1))
    _, split = split_dataset(config)
    fused = ItemVectors.load(run.fused)
    for kind, folder in (("attrformer", run.ranker), ("sasrec", root / "rankers" / "sasrec")):
        shutil.rmtree(folder, ignore_errors=True)
        sequential_ranker(fused, split, config, kind).model.save_pretrained(folder)
    return root


@pytest.mark.slow
def test_recommender_serves_with_an_attrformer_ranker_and_evaluate_lists_it(attrformer_run):
    from eccr.evaluate.systems import build_systems
    from eccr.pipeline import Recommender

    rec = Recommender.from_run(attrformer_run, use_lm=False)
    assert isinstance(rec.ranker, AttrFormerScorer) and rec.ranker.name == "attrformer"
    query = "D0001"  # a demo-catalogue item
    answer = rec.recommend(query, [], 5, "eccr", explain=False)
    assert len(answer.items) == 5
    systems = build_systems(rec)
    assert {"attrformer", "sasrec"} <= set(systems) and "attention_cf" not in systems
    scores = systems["sasrec"].score_candidates([query], [i.item_id for i in answer.items]).scores
    assert scores.shape == (5,)
