"""The bottom of the job layer: what one `eccr train` is configured with (RunConfig, saved as config.json), the
layout of a run directory (Run) and the run's temporal split. Library code that reads a run (the Recommender, the
distillation job) imports this module, never the trainer.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from eccr.config import DataConfig, load_config
from eccr.data.schema import Dataset
from eccr.data.splits import TemporalSplit, temporal_split
from eccr.llm.config import LoraSftConfig, ModelConfig, TaskConfig
from eccr.quantize.config import QuantizerConfig
from eccr.rank.config import (
    AttrFormerConfig,
    ComplementConfig,
    DANConfig,
    PersonalMetricConfig,
    RankerConfig,
    RetrievalConfig,
    UncertaintyConfig,
)
from eccr.represent.config import (
    BehaviourConfig,
    ComplementEncoderConfig,
    DirectedConfig,
    FusionConfig,
    TextConfig,
)

STAGES = ("represent", "complement", "coherence", "rank", "baselines", "index", "blend", "semantic_ids", "lm")


@dataclass
class RunConfig:
    """Everything one `eccr train` uses; saved as config.json in the run directory."""

    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    directed: DirectedConfig = field(default_factory=DirectedConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    complement: ComplementConfig = field(default_factory=ComplementConfig)  # the listwise text complement scorer
    # the text encoder fine-tuned for complements (eccr/represent/complement_encoder.py), blend feature "tuned_cosine"
    complement_encoder: ComplementEncoderConfig = field(default_factory=ComplementEncoderConfig)
    # "is it a coherent complement?": an ensemble of complement scorers, its calibrated probability and one threshold
    # per uncertainty level (eccr/rank/uncertainty.py); the `coherence` stage, read by the Recommender's verdicts
    uncertainty: UncertaintyConfig = field(default_factory=UncertaintyConfig)
    # null_slot: with a one-item memory (a single query product) the paper's attention is a convex combination
    # over that one item, so every query gets the same ranking; a learned "attend nowhere" slot fixes it
    # (eccr/rank/attention_cf.py; tests/rank/test_attention_cf.py shows both cases).
    ranker: RankerConfig = field(default_factory=lambda: RankerConfig(null_slot=True))
    dan: DANConfig = field(default_factory=DANConfig)  # the DAN baseline; trained like the ranker (same config)
    attrformer: AttrFormerConfig = field(default_factory=AttrFormerConfig)  # ranker.kind attrformer or sasrec
    # the personalised item-to-item metric (Hoang et al. 2022, eccr/rank/personal_metric.py): fitted by `eccr evaluate`
    # as a system, and by the blend stage when `personal_metric.blend_feature` makes it a feature of the ranking
    personal_metric: PersonalMetricConfig = field(default_factory=PersonalMetricConfig)
    weighted_sum_evaluations: int = 60  # CMA-ES evaluations tuning the weighted-sum baseline on the valid part
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sft: LoraSftConfig = field(default_factory=LoraSftConfig)
    blend_max_pairs: int = 3000       # valid-part pairs used to fit the final-score blend
    stages: tuple[str, ...] = STAGES  # stages to run; drop "lm" for a ranker-only run


def quick(config: RunConfig) -> RunConfig:
    """The demo preset: minutes on a 2-core CPU instead of an hour (short ranker and DAN runs, a 3-member coherence
    ensemble of 2 epochs each, no tuned text encoder, 60 LoRA steps all spent on the explain task, the one the demo
    uses: `lm_weight` > 0 needs `--tasks.tasks` with "recommend"); the README's real-data commands use the full
    defaults."""
    r = dataclasses.replace
    return r(config,
             complement_encoder=r(config.complement_encoder, enabled=False),
             ranker=r(config.ranker, hops=4, max_epochs=20, max_seconds=900.0, eval_every=50),
             directed=r(config.directed, epochs=15, max_seconds=900.0),
             uncertainty=r(config.uncertainty, members=3, max_epochs=2),
             tasks=r(config.tasks, max_pairs=600, max_alignment_items=400, tasks=("explain",)),
             sft=r(config.sft, max_steps=60, per_device_batch_size=4, max_length=192, save_steps=20,
                   learning_rate=5e-4))


def load_run_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no config.json); train one with `eccr train`")
    return load_config(RunConfig, path)  # a bad value is an error naming the file and the field


class Run:
    """Paths inside a run directory (one place that knows the layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    vectors = property(lambda self: self.root / "vectors")
    text = property(lambda self: self.root / "vectors" / "text")
    behaviour = property(lambda self: self.root / "vectors" / "behaviour")
    source = property(lambda self: self.root / "vectors" / "directed_source")
    target = property(lambda self: self.root / "vectors" / "directed_target")
    fused = property(lambda self: self.root / "vectors" / "fused")
    directed_model = property(lambda self: self.root / "directed")
    complement = property(lambda self: self.root / "complement")
    complement_encoder = property(lambda self: self.root / "complement_encoder")  # sentence-transformers folder
    tuned_text = property(lambda self: self.root / "vectors" / "tuned_text")  # its vectors of the catalogue
    coherence = property(lambda self: self.root / "coherence")  # CoherenceJudge: ensemble/member_k/ + coherence_rule.json
    ranker = property(lambda self: self.root / "ranker")
    ranker_checkpoints = property(lambda self: self.root / "checkpoints" / "ranker")
    dan = property(lambda self: self.root / "baselines" / "dan")
    dan_checkpoints = property(lambda self: self.root / "checkpoints" / "dan")
    weighted_sum = property(lambda self: self.root / "baselines" / "weighted_sum.json")
    index = property(lambda self: self.root / "index" / "targets.faiss")
    content_index = property(lambda self: self.root / "index" / "fused_content.faiss")  # over fuse.content_vectors
    text_index = property(lambda self: self.root / "index" / "text.faiss")
    tuned_index = property(lambda self: self.root / "index" / "tuned.faiss")  # over tuned_text
    semantic_ids = property(lambda self: self.root / "semantic_ids.json")
    quantizer = property(lambda self: self.root / "quantizer")
    sft_data = property(lambda self: self.root / "sft_data.jsonl")
    lm_checkpoints = property(lambda self: self.root / "checkpoints" / "lm")
    adapter = property(lambda self: self.root / "lm")
    prompts = property(lambda self: self.root / "lm" / "prompts")  # the templates the adapter was trained on
    summary = property(lambda self: self.root / "train_summary.json")
    catalog = property(lambda self: self.root / "catalog.parquet")
    blend = property(lambda self: self.root / "blend.json")
    retrieval_blend = property(lambda self: self.root / "blend_bought_together.json")
    valid_lists = property(lambda self: self.root / "candidates_valid.json")
    train_sequences = property(lambda self: self.root / "train_sequences.json")


def split_dataset(config: RunConfig) -> tuple[Dataset, TemporalSplit]:
    from eccr.data.load import load_dataset

    ds = load_dataset(config.data.source)
    return ds, temporal_split(ds, config.data.valid_fraction, config.data.test_fraction)
