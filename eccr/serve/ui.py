"""The Gradio demo: pick a product (and what is already in the basket), get complements with their coherence
flags, semantic IDs, scores, explanations and the basket items that drove each one (attention weights).

Everything the page shows comes from one `Recommender` (eccr.pipeline), the object the CLI and the batch job use.
The page logic lives in `DemoActions` (plain Python, unit-tested without a browser); `build_demo` only wires it to
Gradio components. All text from the catalogue or the model is HTML-escaped before it reaches the page, and any
error becomes a readable message in the results area (the traceback goes to the server log only).
"""
from __future__ import annotations

import html
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from eccr.recommendation import Recommendation, RecommendedItem

log = logging.getLogger(__name__)

BASELINE_NOTE = "Tick a second system to compare it side by side with ours."
OUR_SYSTEM = "eccr"  # the system the page labels "ours"; the others are baselines


class RecommenderLike(Protocol):
    """The part of eccr.pipeline.Recommender the demo uses."""

    systems: list[str]
    catalog_size: int
    run_info: dict

    def search_items(self, text: str, limit: int = 20) -> list[tuple[str, str]]: ...

    def recommend(self, item: str, basket: Sequence[str] = (), k: int = 5, system: str = "eccr",
                  explain: bool | str = True) -> Recommendation: ...

    # optional: `explains_with_lm` (bool) and `explain_with_lm(results)` let the page show templates first


@dataclass
class UIConfig:
    list_all_up_to: int = 2000      # catalogues up to this size are listed whole in the dropdowns (filter as you type)
    search_limit: int = 30          # search results offered per keystroke in larger catalogues
    min_search_chars: int = 2       # characters typed before a larger catalogue is searched
    default_k: int = 5              # recommendations per system shown at start
    max_k: int = 20                 # top of the k slider
    max_systems: int = 3            # systems compared side by side at most
    concurrency_limit: int = 4      # requests served at once by the queue (the rest wait their turn)
    max_queue: int = 64             # requests waiting at most; later ones are told the demo is busy
    # seconds between sending the lists with their templates and starting the LM: the browser draws them first
    # instead of competing with the LM's threads for the cores (README, "Explanations in seconds")
    lm_start_delay: float = 0.2


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _category_text(category: Any) -> str:
    if isinstance(category, (list, tuple)):
        return " > ".join(str(c) for c in category if str(c))
    return "" if category is None else str(category)


# ---------------------------------------------------------------------------------------------------- rendering

FLAG_BADGES = [  # (flag key, label shown, css class when set)
    ("complementary", "complementary", "good"),
    ("relevant", "relevant", "good"),
    ("compatible", "compatible", "good"),
    ("substitute", "substitute", "warn"),
    ("incompatible", "does not fit", "warn"),
]


# who wrote an explanation (RecommendedItem.explanation_source), as the badge before it says
SOURCE_LABELS = {"lm": "written by the LM", "template": "template from titles and flags"}


UNCERTAINTY_LEVELS = ("low", "middle", "high")  # names of the judge's levels when there are three


def render_coherence(item: RecommendedItem) -> str:
    """The coherence judge's verdict as the first badge: 'coherent complement' (green) or 'unsure complement'
    (struck grey) with P(coherent) and the uncertainty; for a run without a judge, a grey note that the
    'complementary' badge is the ranker's sigmoid."""
    if item.coherent_probability is None:
        return ('<span class="eccr-badge off eccr-nojudge" data-flag="coherence-judge" data-on="none" title="this run '
                'has no coherence stage (eccr train fits it)">no coherence judge: complementary = ranker sigmoid</span>')
    level = item.uncertainty_level
    named = UNCERTAINTY_LEVELS[level] if level is not None and 0 <= level < len(UNCERTAINTY_LEVELS) else level
    detail = f"P {item.coherent_probability:.2f}" + (f", {named} uncertainty" if named is not None else "")
    label = "coherent complement" if item.coherent else "unsure complement"
    return (f'<span class="eccr-badge {"good" if item.coherent else "off"}" data-flag="coherent-complement" '
            f'data-on="{str(bool(item.coherent)).lower()}" data-probability="{item.coherent_probability:.4f}" '
            f'title="calibrated P(coherent complement); uncertainty = spread of the ensemble '
            f'{_esc(item.uncertainty)}">{_esc(label)} · {_esc(detail)}</span>')


def render_flags(flags: dict, item: RecommendedItem | None = None) -> str:
    """Coherence badges (set = coloured, unset = struck grey) and the evidence behind them. `item`: the
    recommendation the flags belong to; its coherence judge's badge (render_coherence) comes first and, when the
    judge gave a verdict (`coherent_probability` is set), it replaces the 'complementary' flag it decides."""
    badges = [render_coherence(item)] if item is not None else []
    judged = item is not None and item.coherent_probability is not None
    for key, label, css in FLAG_BADGES:
        if key not in flags or (key == "complementary" and judged):
            continue
        on = bool(flags.get(key))
        if key in ("substitute", "incompatible") and not on:
            continue  # only worth showing when it fires
        badges.append(f'<span class="eccr-badge {css if on else "off"}" data-flag="{_esc(key)}" '
                      f'data-on="{str(on).lower()}">{_esc(label)}</span>')
    evidence = flags.get("evidence") or []
    if isinstance(evidence, str):
        evidence = [evidence]
    evidence_html = ("" if not evidence else
                     '<div class="eccr-evidence">evidence: ' + "; ".join(_esc(e) for e in evidence) + "</div>")
    return f'<div class="eccr-badges">{"".join(badges)}</div>{evidence_html}'


def render_attention(attention: dict[str, float], titles: dict[str, str]) -> str:
    """'Why': one inline bar per basket/history item, width proportional to its attention weight."""
    if not attention:
        return ""
    weights = sorted(((str(k), float(v)) for k, v in attention.items()), key=lambda kv: -kv[1])
    top = max(w for _, w in weights) or 1.0
    rows = []
    for item_id, weight in weights:
        width = max(0.0, min(100.0, 100.0 * weight / top))
        rows.append(f'<div class="eccr-why-row"><span class="eccr-why-label" title="{_esc(item_id)}">'
                    f'{_esc(titles.get(item_id, item_id))}</span><span class="eccr-why-bar">'
                    f'<span style="width:{width:.0f}%"></span></span>'
                    f'<span class="eccr-why-value">{weight:.2f}</span></div>')
    return '<div class="eccr-why"><div class="eccr-why-head">why: items that drove it</div>' + "".join(rows) + "</div>"


def render_item(item: RecommendedItem, titles: dict[str, str], rank: int) -> str:
    scores = f"score {item.score:.3f} · ranker {item.ranker_score:.3f}"
    if item.lm_score is not None:
        scores += f" · LM {item.lm_score:.2f}"
    sid = f' · <code class="eccr-sid">{_esc(item.semantic_id)}</code>' if item.semantic_id else ""
    source = (f'<span class="eccr-source {_esc(item.explanation_source)}" data-source='
              f'"{_esc(item.explanation_source)}">{_esc(SOURCE_LABELS.get(item.explanation_source, item.explanation_source))}'
              '</span> ' if item.explanation and item.explanation_source else "")
    explanation = (f'<p class="eccr-explanation">{source}{_esc(item.explanation)}</p>' if item.explanation else "")
    return (f'<li class="eccr-card" data-item-id="{_esc(item.item_id)}">'
            f'<div class="eccr-title"><span class="eccr-rank">{rank}.</span> {_esc(item.title)}</div>'
            f'<div class="eccr-meta">{_esc(_category_text(item.category))}{sid}</div>'
            f'<div class="eccr-scores">{_esc(scores)}</div>'
            f"{render_flags(item.flags or {}, item)}{explanation}"
            f"{render_attention(item.attention, titles)}</li>")


def render_recommendation(rec: Recommendation) -> str:
    """One system's list as an ordered list of cards."""
    titles = {str(row.get("item_id")): str(row.get("title", "")) for row in [rec.query, *rec.basket] if row}
    items = "".join(render_item(item, titles, i + 1) for i, item in enumerate(rec.items))
    if not rec.items:
        items = '<li class="eccr-empty">no recommendations from this system</li>'
    timings = " · ".join(f"{_esc(stage)} {float(sec):.2f} s" for stage, sec in (rec.timings or {}).items())
    timing_html = f'<div class="eccr-timings">{timings}</div>' if timings else ""
    heading = f"{rec.system} (ours)" if rec.system == OUR_SYSTEM else f"{rec.system} (baseline)"
    return (f'<section class="eccr-system" data-system="{_esc(rec.system)}"><h3>{_esc(heading)}</h3>'
            f'<ol class="eccr-list">{items}</ol>{timing_html}</section>')


def render_comparison(results: Sequence[Recommendation]) -> str:
    """The query, the basket and each system's list side by side."""
    if not results:
        return render_message("Pick at least one system.")
    first = results[0]
    query = first.query or {}
    basket = ", ".join(_esc(row.get("title", row.get("item_id", ""))) for row in first.basket)
    basket_html = f'<div class="eccr-basket">basket: {basket}</div>' if basket else ""
    header = (f'<div class="eccr-query">Complements for <b>{_esc(query.get("title", query.get("item_id", "")))}</b>'
              f' <span class="eccr-meta">{_esc(_category_text(query.get("category")))}</span>{basket_html}</div>')
    columns = "".join(render_recommendation(r) for r in results)
    return (f'<div class="eccr-results">{header}<div class="eccr-columns" '
            f'style="grid-template-columns: repeat({len(results)}, minmax(0, 1fr))">{columns}</div></div>')


def render_message(text: str, kind: str = "info") -> str:
    return f'<div class="eccr-message {_esc(kind)}" role="status">{_esc(text)}</div>'


def render_header(recommender: RecommenderLike) -> str:
    info = dict(getattr(recommender, "run_info", {}) or {})
    parts = [f"{int(recommender.catalog_size):,} products"]
    for key in ("dataset", "ranker", "lm", "text_model", "coherence"):
        if info.get(key):
            parts.append(f"{key}: {info[key]}")
    metrics = info.get("metrics") or {}
    if isinstance(metrics, dict):
        shown = [f"{k} {v:.3f}" for k, v in list(metrics.items())[:4] if isinstance(v, (int, float))]
        if shown:
            parts.append("metrics: " + ", ".join(shown))
    return ('<div class="eccr-header"><h2>eccr: explainable, coherent complements</h2><div class="eccr-meta">'
            + " · ".join(_esc(p) for p in parts) + "</div></div>")


# ---------------------------------------------------------------------------------------------------- actions


class DemoActions:
    """What the page does, as plain functions of the widgets' values (testable without Gradio)."""

    def __init__(self, recommender: RecommenderLike, config: UIConfig | None = None):
        self.recommender = recommender
        self.config = config or UIConfig()
        self.systems = list(recommender.systems)
        self._titles: dict[str, str] = {}  # item_id -> title of every item offered so far (labels for kept picks)
        if not self.systems:
            raise ValueError("the recommender offers no systems (recommender.systems is empty)")

    @property
    def lists_whole_catalog(self) -> bool:
        return int(self.recommender.catalog_size) <= self.config.list_all_up_to

    def initial_choices(self) -> list[tuple[str, str]]:
        """(label, item_id) pairs: the whole catalogue when small, else none until the user types."""
        if not self.lists_whole_catalog:
            return []
        return self._as_choices(self.recommender.search_items("", limit=int(self.recommender.catalog_size)))

    def search_choices(self, text: str, keep: Sequence[str] = ()) -> list[tuple[str, str]]:
        """Choices matching `text`, plus the already selected ids (`keep`) so a selection never vanishes."""
        text = (text or "").strip()
        found = []
        if len(text) >= self.config.min_search_chars:
            try:
                found = self.recommender.search_items(text, limit=self.config.search_limit)
            except Exception:  # a failed search must not break typing
                log.exception("search_items(%r) failed", text)
        choices = self._as_choices(found)
        known = {value for _, value in choices}
        kept = [(self._titles.get(value, value), value) for value in keep if value and value not in known]
        return kept + choices

    def _as_choices(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        choices = [(str(title) or str(item_id), str(item_id)) for item_id, title in pairs]
        self._titles.update((value, label) for label, value in choices)
        return choices

    def recommend_html(self, item: str | None, basket: Sequence[str] | None, k: float, systems: Sequence[str] | None,
                       explain: bool = True, progress: Any = None) -> str:
        """Run each chosen system for the picked item and render the lists side by side; errors become a message."""
        html = ""
        for html in self.recommend_stream(item, basket, k, systems, explain, progress):
            pass
        return html

    def recommend_stream(self, item: str | None, basket: Sequence[str] | None, k: float,
                         systems: Sequence[str] | None, explain: bool = True, progress: Any = None) -> Iterator[str]:
        """What the page shows, step by step. When the recommender explains with an LM (seconds of CPU), the lists
        come first with their grounded templates, then again with the LM's sentences that pass the grounding check;
        otherwise in one step."""
        two_steps = bool(explain) and bool(getattr(self.recommender, "explains_with_lm", False))
        results = self._recommend(item, basket, k, systems, "template" if two_steps else bool(explain), progress)
        if isinstance(results, str):  # a message instead of lists
            yield results
            return
        if not two_steps:
            yield render_comparison(results)
            return
        yield render_message("Explanations below are templates; the LM's sentences follow.", "pending") + \
            render_comparison(results)
        time.sleep(self.config.lm_start_delay)
        try:
            self.recommender.explain_with_lm(results)
        except Exception as exc:  # the lists and their templates stay; say why the LM's sentences did not come
            log.exception("explain_with_lm failed for item=%r", item)
            yield render_message(f"The LM could not explain these ({type(exc).__name__}: {exc}); the templates "
                                 "stay.", "warn") + render_comparison(results)
            return
        yield render_comparison(results)

    def _recommend(self, item, basket, k, systems, explain: bool | str, progress: Any) -> list[Recommendation] | str:
        """Each chosen system's Recommendation, or the message to show instead."""
        item = (item or "").strip() if isinstance(item, str) else item
        if not item:
            return render_message("Pick or type a product first.", "warn")
        chosen = [s for s in (systems or []) if s in self.systems] or self.systems[:1]
        if len(chosen) > self.config.max_systems:
            return render_message(f"Compare at most {self.config.max_systems} systems at once.", "warn")
        basket_ids = [b for b in (basket or []) if b and b != item]
        k = max(1, min(int(k or self.config.default_k), self.config.max_k))
        results = []
        try:
            for i, system in enumerate(chosen):
                if progress is not None:
                    progress(i / len(chosen), desc=f"{system}: retrieve, rank, explain")
                results.append(self.recommender.recommend(item, basket=basket_ids, k=k, system=system,
                                                          explain=explain))
        except (ValueError, KeyError, LookupError) as exc:  # bad input: say what is wrong
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            return render_message(f"Could not recommend for {item!s}: {message}", "error")
        except Exception as exc:  # anything else: log the traceback, show one readable line
            log.exception("recommend failed for item=%r basket=%r systems=%r", item, basket_ids, chosen)
            return render_message(f"Something went wrong while recommending ({type(exc).__name__}: {exc}). "
                                  "The details are in the server log.", "error")
        if progress is not None:
            progress(1.0, desc="done")
        return results


# ---------------------------------------------------------------------------------------------------- page

RESULTS_CSS = """
.eccr-results, .eccr-message { font-size: 14px; line-height: 1.4; }
.eccr-query { margin: 4px 0 10px; }
.eccr-basket { color: #555; font-size: 13px; }
.eccr-columns { display: grid; gap: 14px; }
.eccr-system h3 { margin: 0 0 6px; font-size: 15px; }
.eccr-list { list-style: none; padding: 0; margin: 0; }
.eccr-card { border: 1px solid #ddd; border-radius: 8px; padding: 8px 10px; margin-bottom: 8px; background: #fff; }
.eccr-title { font-weight: 600; }
.eccr-rank { color: #888; }
.eccr-meta, .eccr-scores, .eccr-timings { color: #666; font-size: 12px; }
.eccr-sid { font-size: 11px; background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
.eccr-badges { margin: 4px 0 2px; }
.eccr-badge { display: inline-block; font-size: 11px; padding: 1px 7px; margin-right: 4px; border-radius: 10px; }
.eccr-badge.good { background: #dff3e4; color: #1d6b33; }
.eccr-badge.warn { background: #fde7d8; color: #9a4a12; }
.eccr-badge.off { background: #f0f0f0; color: #999; text-decoration: line-through; }
.eccr-evidence { font-size: 12px; color: #555; }
.eccr-explanation { margin: 4px 0; }
.eccr-source { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 10px; margin-right: 4px; }
.eccr-source.lm { background: #e4e9fb; color: #2c3f8f; }
.eccr-source.template { background: #f0f0f0; color: #555; }
.eccr-why { margin-top: 4px; }
.eccr-why-head { font-size: 11px; color: #888; }
.eccr-why-row { display: flex; align-items: center; gap: 6px; font-size: 12px; }
.eccr-why-label { flex: 0 0 45%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.eccr-why-bar { flex: 1; background: #eee; height: 8px; border-radius: 4px; overflow: hidden; }
.eccr-why-bar span { display: block; height: 100%; background: #4a7fd6; }
.eccr-why-value { flex: 0 0 34px; text-align: right; color: #666; }
.eccr-message { padding: 8px 12px; border-radius: 6px; background: #eef3fb; }
.eccr-message.warn { background: #fff5d6; }
.eccr-message.pending { background: #f3f3f3; color: #555; font-size: 12px; }
.eccr-message.error { background: #fde2e1; color: #8a1c17; }
"""


def build_demo(recommender: RecommenderLike, config: UIConfig | None = None) -> gr.Blocks:
    """The demo page for one trained run, with its queue set up (call `.launch()` on the result)."""
    actions = DemoActions(recommender, config)
    cfg = actions.config
    choices = actions.initial_choices()
    hint = "Type to filter the catalogue." if choices else "Search above, then pick a product here."
    with gr.Blocks(title="eccr demo", analytics_enabled=False) as demo:
        gr.HTML(render_header(recommender), js_on_load=None)
        with gr.Row():
            with gr.Column(scale=2):
                search = None if actions.lists_whole_catalog else gr.Textbox(
                    label=f"Search the catalogue ({int(recommender.catalog_size):,} products)",
                    placeholder=f"type at least {cfg.min_search_chars} characters of a title", elem_id="eccr-search")
                item = gr.Dropdown(choices=choices, value=None, label="Product", info=hint, allow_custom_value=True,
                                   filterable=True, elem_id="eccr-item")
                basket = gr.Dropdown(choices=choices, value=[], multiselect=True, label="Already in the basket "
                                     "(optional)", allow_custom_value=False, filterable=True, elem_id="eccr-basket")
            with gr.Column(scale=1):
                k = gr.Slider(1, cfg.max_k, value=cfg.default_k, step=1, label="How many", elem_id="eccr-k")
                systems = gr.CheckboxGroup(choices=actions.systems, value=actions.systems[:1], label="Systems",
                                           info=BASELINE_NOTE if len(actions.systems) > 1 else None,
                                           elem_id="eccr-systems")
                explain = gr.Checkbox(value=True, label="Explain each recommendation", elem_id="eccr-explain")
        submit = gr.Button("Recommend complements", variant="primary", elem_id="eccr-submit")
        results = gr.HTML(render_message("Pick a product and press the button."), css_template=RESULTS_CSS,
                          js_on_load=None, elem_id="eccr-results")

        if search is not None:  # large catalogue: the search box feeds both dropdowns, keeping what is picked
            def refresh_choices(text: str, item_value: str | None, basket_value: list[str] | None):
                picked = [item_value] if item_value else []
                return (gr.Dropdown(choices=actions.search_choices(text, picked)),
                        gr.Dropdown(choices=actions.search_choices(text, basket_value or [])))

            search.input(refresh_choices, inputs=[search, item, basket], outputs=[item, basket], queue=False,
                         trigger_mode="always_last", show_progress="hidden")
            search.submit(refresh_choices, inputs=[search, item, basket], outputs=[item, basket], queue=False,
                          show_progress="hidden")

        def recommend(item_value, basket_value, k_value, systems_value, explain_value,
                      progress=gr.Progress()):  # noqa: B008 - Gradio's documented way to get a progress bar
            yield from actions.recommend_stream(item_value, basket_value, k_value, systems_value, explain_value,
                                                progress=progress)

        # no Gradio spinner or timer over the results: the page says itself that the LM's sentences follow, and a
        # timer redrawn while the LM decodes takes CPU from it on a small machine
        submit.click(recommend, inputs=[item, basket, k, systems, explain], outputs=results, api_name="recommend",
                     concurrency_limit=cfg.concurrency_limit, show_progress="hidden")
    demo.queue(default_concurrency_limit=cfg.concurrency_limit, max_size=cfg.max_queue)
    return demo
