"""Human evaluation of complement recommendations: blinded export for raters, validated import, statistics.

The ECCR paper (Zhang et al., "ECCR: Explainable and coherent complement recommendation based on large
language models") validates its model with a human evaluation of the *coherent rate*: the share of recommended
pairs (A = query product, B = recommended product) that raters judge coherent. Here a pair is coherent when
B is a complement of A AND (B is relevant to A OR B is compatible with A).

Round trip (`eccr human-eval export|import`), one module per step:
1. export.py: `export_human_eval` reads the answer files of several systems (JSON lines written by `eccr explain`),
   samples queries answered by every system and writes their top-k recommendations under per-query shuffled
   option letters, so raters cannot tell which system made which recommendation. Rater files go to
   `<out>/for_raters/`, the un-blinding key to `<out>/key.json`.
2. Raters fill `ratings_template.csv` in a spreadsheet (one row per recommended pair) or label the same rows in
   Label Studio.
3. validate.py: `read_answers` reads the filled CSVs and/or Label Studio exports (full JSON or JSON-MIN) and checks
   every answer against the key (errors name file, line or task, and field).
4. statistics.py and agreement.py: per system the coherent rate, compatible/relevant rates and the mean
   explanation score with bootstrap 95% CIs (queries resampled), paired differences between systems, and
   Krippendorff's alpha between raters.
5. report.py: `import_human_eval` runs 3-4 and writes summary.json, summary.md, summary.png and answers.csv.
"""
from eccr.evaluate.human_eval.agreement import krippendorff_alpha, rater_agreement
from eccr.evaluate.human_eval.export import (
    ANSWER_FIELDS,
    INSTRUCTIONS,
    ExplainedItem,
    ExportPaths,
    SystemAnswer,
    export_human_eval,
    label_studio_config,
    load_system_answers,
)
from eccr.evaluate.human_eval.report import import_human_eval, plot_summary, summary_markdown
from eccr.evaluate.human_eval.statistics import bootstrap_ratio, summarize
from eccr.evaluate.human_eval.validate import RaterAnswer, load_key, read_answers

__all__ = [
    "ANSWER_FIELDS",
    "INSTRUCTIONS",
    "ExplainedItem",
    "ExportPaths",
    "RaterAnswer",
    "SystemAnswer",
    "bootstrap_ratio",
    "export_human_eval",
    "import_human_eval",
    "krippendorff_alpha",
    "label_studio_config",
    "load_key",
    "load_system_answers",
    "plot_summary",
    "rater_agreement",
    "read_answers",
    "summarize",
    "summary_markdown",
]
