"""The distillation teacher: a larger model that writes explanation targets (`eccr distill`, eccr/jobs/distill.py).

ECCR (Li et al., 2024, §3.3) had a large LLM write the explanation targets few-shot and fine-tuned the small LM on
them. We ship grounded templates and the crowd intents (eccr/coherence.py); with a bigger model at hand, the
distill job asks a teacher built here for better sentences.

The teacher is a local HF causal-LM folder (or packaged name; greedy, batched generation), a GGUF model run by
llama.cpp (`llamacpp:NAME` for a packaged model, `llamacpp:PATH.gguf`; the model's own chat template, greedy),
or any OpenAI-compatible chat endpoint (`openai:URL#MODEL`, e.g. vLLM, llama.cpp server, Ollama), called with the
`openai` client (`pip install 'eccr[teacher]'`); the API key, if any, comes from $ECCR_TEACHER_API_KEY and is
never written anywhere. Each prompt (teacher_messages) gives the two titles (cut as the student LM sees them),
their leaf categories, the matched evidence (pair_flags) and the crowd intent, and asks for ONE short sentence
giving the practical reason, using only those facts; `shots` adds examples in the grounded-template style
(choose_shots), which small teachers copy instead of giving a reason, so there are none by default.
clean_sentence keeps that sentence from the answer.
"""
from __future__ import annotations

import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from eccr.coherence import AttributeExtractor, PairFlags, grounded_explanation, pair_flags
from eccr.data.categories import leaf_category
from eccr.llm.config import GenerationConfig, TaskConfig
from eccr.llm.generate import generate_texts
from eccr.llm.models import PACKAGED_MODELS, load_causal_lm, packaged_gguf_path
from eccr.llm.tasks import truncate_title

API_KEY_ENV = "ECCR_TEACHER_API_KEY"
OPENAI_PREFIX = "openai:"
LLAMACPP_PREFIX = "llamacpp:"

SYSTEM_PROMPT = (
    "You explain product recommendations to a shopper. Given product A (already chosen) and product B "
    "(recommended with it), write ONE short sentence (at most 25 words) giving the practical reason B is useful "
    "with A: what B does for A or how the two are used together. Name both products by their short names. "
    "Use only the facts given; never add a brand, model, number or feature not in them; do not claim B fits A "
    "unless the matched evidence says so; never mention shoppers or the intent text. Answer with the sentence only."
)


@dataclass
class DistillConfig:
    pairs: int | None = None        # directed pairs to explain; None = the run's tasks.max_pairs (the SFT pairs)
    shots: int = 0                  # few-shot examples in the grounded-template style shown in every prompt
    batch_size: int = 4             # prompts per generation batch (local) / concurrent requests (endpoint)
    max_new_tokens: int = 80        # cap on the teacher's answer length, in tokens
    max_title_words: int | None = None  # titles are cut to this many words in prompts; None = the run's
    #                                     tasks.max_title_words (what the student LM reads)
    timeout: float = 60.0           # seconds per HTTP request (endpoint teachers)
    retries: int = 4                # attempts per request on connection errors, timeouts, 408, 409, 429 and 5xx
    seed: int | None = None         # pair sampling seed; None = the run's tasks.seed (the same pairs SFT samples)
    progress: bool = True           # tqdm bar on stderr


class TeacherError(RuntimeError):
    """The teacher could not answer (endpoint down, bad response, ...); the message names the URL."""


# ----------------------------------------------------------------------------------------------- teachers
Messages = list[dict]  # OpenAI chat format: [{"role": "system"|"user", "content": str}, ...]


class Teacher(Protocol):
    name: str  # what goes into the output's "teacher" field (never a secret)

    def complete(self, conversations: list[Messages]) -> list[str]:
        """One answer per conversation, in order."""


def redact_url(url: str) -> str:
    """The URL without credentials: no user:password@, no query string (where some servers take a key)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_spec(spec: str) -> str:
    """The teacher spec as it may be written to files and messages (credentials removed)."""
    if not spec.startswith(OPENAI_PREFIX):
        return spec
    url, _, model = spec[len(OPENAI_PREFIX):].partition("#")
    return f"{OPENAI_PREFIX}{redact_url(url)}#{model}"


class OpenAITeacher:
    """An OpenAI-compatible chat endpoint through the `openai` client (greedy: temperature 0). The client retries
    connection errors, timeouts, 408, 409, 429 and 5xx with exponential backoff (honouring Retry-After); other
    client errors fail at once."""

    def __init__(self, base_url: str, model: str, config: DistillConfig | None = None, api_key: str | None = None):
        self.cfg = config or DistillConfig()
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"teacher URL must be http(s)://HOST[:PORT]/v1, got {base_url!r}")
        if not model:
            raise ValueError("an endpoint teacher needs a model name: openai:http://HOST:PORT/v1#MODEL")
        openai = _import_openai()
        self.model = model
        self.url = redact_url(base_url.rstrip("/") + "/chat/completions")  # for messages
        self.name = redact_spec(f"{OPENAI_PREFIX}{base_url}#{model}")
        # the key is always given, so the client never falls back to $OPENAI_API_KEY (not meant for this server);
        # servers without authentication ignore the placeholder
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        self.attempts = max(1, self.cfg.retries)
        self.client = openai.OpenAI(base_url=base_url, api_key=key or "none", timeout=self.cfg.timeout,
                                    max_retries=self.attempts - 1)
        self._errors = openai

    def complete(self, conversations: list[Messages]) -> list[str]:
        if len(conversations) <= 1 or self.cfg.batch_size <= 1:
            return [self.complete_one(c) for c in conversations]
        with ThreadPoolExecutor(max_workers=min(self.cfg.batch_size, len(conversations))) as pool:
            return list(pool.map(self.complete_one, conversations))

    def complete_one(self, messages: Messages) -> str:
        errors, attempts = self._errors, self.attempts
        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0,
                                                           max_tokens=self.cfg.max_new_tokens)
        except errors.APIStatusError as err:
            retried = err.status_code in (408, 409, 429) or err.status_code >= 500
            tries = f"after {attempts} attempt(s)" if retried else "(a client error is not retried)"
            raise TeacherError(f"teacher {self.url} failed {tries}: HTTP {err.status_code}: "
                               f"{err.response.text[:200]}") from None
        except errors.APIConnectionError as err:  # refused, reset, timeout
            raise TeacherError(f"teacher {self.url} failed after {attempts} attempt(s): {type(err).__name__}: "
                               f"{err.__cause__ or err}") from None
        except errors.APIResponseValidationError as err:
            raise TeacherError(f"teacher {self.url} returned a malformed response ({err})") from None
        try:
            return str(response.choices[0].message.content or "")
        except (AttributeError, IndexError, TypeError):
            raise TeacherError(f"teacher {self.url} answered without choices[0].message.content: "
                               f"{str(response)[:200]}") from None


def _import_openai():
    """The optional `openai` package, imported only when an endpoint teacher is asked for."""
    try:
        import openai
    except ImportError:
        raise ImportError("an endpoint teacher (openai:URL#MODEL) needs the openai client: "
                          "pip install 'eccr[teacher]'") from None
    return openai


class LocalTeacher:
    """A local HF causal LM (folder or packaged name), greedy and batched (eccr.llm.generate.generate_texts)."""

    def __init__(self, spec: str, config: DistillConfig | None = None):
        self.cfg = config or DistillConfig()
        self.name = spec
        self.model, self.tokenizer = load_causal_lm(spec)

    def complete(self, conversations: list[Messages]) -> list[str]:
        prompts = ["\n\n".join(m["content"] for m in messages) for messages in conversations]
        gen = GenerationConfig(max_new_tokens=self.cfg.max_new_tokens, do_sample=False,
                               batch_size=self.cfg.batch_size)
        return generate_texts(self.model, self.tokenizer, prompts, gen)


class LlamaCppTeacher:
    """A GGUF model (a packaged name or a .gguf path) run by llama.cpp with its own chat template, greedy, one
    conversation at a time on the idle cores: a 1.5B Q4 model answers in a few seconds on 2 CPU cores, where the
    dequantised fp32 HF copy is several times slower."""

    def __init__(self, spec: str, config: DistillConfig | None = None, n_ctx: int = 2048):
        import llama_cpp

        from eccr.llm.llamacpp import _quiet_llama_logs, idle_threads

        self.cfg = config or DistillConfig()
        self.name = f"{LLAMACPP_PREFIX}{spec}"
        _quiet_llama_logs(llama_cpp)
        self.model = llama_cpp.Llama(str(gguf_teacher_path(spec)), n_ctx=n_ctx, n_threads=idle_threads(), seed=0,
                                     verbose=False)

    def complete(self, conversations: list[Messages]) -> list[str]:
        return [str(self.model.create_chat_completion(messages=messages, temperature=0.0, top_k=1, seed=0,
                                                      max_tokens=self.cfg.max_new_tokens)
                    ["choices"][0]["message"]["content"] or "")
                for messages in conversations]


def gguf_teacher_path(spec: str) -> Path:
    """The GGUF file behind a `llamacpp:` teacher spec (without the prefix): a packaged model or a .gguf path."""
    if spec in PACKAGED_MODELS:
        return packaged_gguf_path(spec)
    path = Path(spec).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        raise ValueError(f"teacher {LLAMACPP_PREFIX}{spec!r}: give a packaged model {sorted(PACKAGED_MODELS)} "
                         "or an existing .gguf file")
    return path


def check_teacher_spec(spec: str) -> None:
    """Fail fast (before any data loading) on a spec that cannot work."""
    if spec.startswith(LLAMACPP_PREFIX):
        from eccr.llm.llamacpp import llamacpp_available

        name = spec[len(LLAMACPP_PREFIX):]
        if not llamacpp_available():
            raise ValueError(f"teacher {spec!r} needs llama-cpp-python: `make llamacpp` or "
                             "pip install 'eccr[llamacpp]'")
        gguf_teacher_path(name)  # a missing package, part or file fails here, before any data is loaded
        return
    if spec.startswith(OPENAI_PREFIX):
        url, sep, model = spec[len(OPENAI_PREFIX):].partition("#")
        if not sep or not model:
            raise ValueError(f"teacher {redact_spec(spec)!r}: write openai:http://HOST:PORT/v1#MODEL")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"teacher {redact_spec(spec)!r}: the URL must start with http:// or https://")
        _import_openai()
        return
    if spec not in PACKAGED_MODELS and not (Path(spec).expanduser() / "config.json").is_file():
        raise ValueError(f"teacher {spec!r} is neither openai:URL#MODEL, llamacpp:NAME_OR_GGUF, a packaged model "
                         f"{sorted(PACKAGED_MODELS)} nor a local HF folder with config.json")


def build_teacher(spec: str, config: DistillConfig | None = None) -> Teacher:
    check_teacher_spec(spec)
    if spec.startswith(OPENAI_PREFIX):
        url, _, model = spec[len(OPENAI_PREFIX):].partition("#")
        return OpenAITeacher(url, model, config)
    if spec.startswith(LLAMACPP_PREFIX):
        return LlamaCppTeacher(spec[len(LLAMACPP_PREFIX):], config)
    return LocalTeacher(spec, config)


# -------------------------------------------------------------------------------------------------- pairs
@dataclass
class PairFacts:
    """Everything the teacher may use about one pair (and nothing else)."""

    source: str
    target: str
    title_a: str
    title_b: str
    leaf_a: str
    leaf_b: str
    evidence: list[str]
    intent: str


def pair_facts(rows: dict[str, dict], extractor: AttributeExtractor, source: str, target: str,
               intent: str) -> tuple[PairFacts, PairFlags]:
    a, b = rows[source], rows[target]
    flags = pair_flags(a, b, extractor, complementary=True)
    facts = PairFacts(source, target, a["title"], b["title"], leaf_category(a.get("category")),
                      leaf_category(b.get("category")), list(flags.evidence),
                      (intent or "").strip())
    return facts, flags


def one_sentence_example(a: dict, b: dict, flags: PairFlags, intent: str) -> str:
    """The grounded template (coherence.grounded_explanation: the reason, the fit evidence, the intent as their
    purpose) folded into one sentence, as the style to copy; no claim about shoppers (the LM trained on these
    explains recommended pairs nobody has bought together)."""
    sentence = grounded_explanation(a, b, flags, intent)
    head, sep, purpose = sentence.partition(" Together they serve ")
    return head.rstrip(".") + f", together serving {purpose}" if sep else sentence


def _facts_block(facts: PairFacts, max_words: int) -> str:
    return "\n".join([
        f"A: {truncate_title(facts.title_a, max_words)}" + (f" [{facts.leaf_a}]" if facts.leaf_a else ""),
        f"B: {truncate_title(facts.title_b, max_words)}" + (f" [{facts.leaf_b}]" if facts.leaf_b else ""),
        f"Matched evidence: {'; '.join(facts.evidence) if facts.evidence else 'none'}",
        f"Shoppers' intent: {facts.intent if facts.intent else 'none'}",
    ])


def teacher_messages(facts: PairFacts, shots: list[tuple[PairFacts, str]],
                     max_title_words: int = TaskConfig.max_title_words) -> Messages:
    """System instructions + one user turn: the few-shot examples, then the pair to explain."""
    parts = []
    for i, (shot, sentence) in enumerate(shots, start=1):
        parts.append(f"Example {i}\n{_facts_block(shot, max_title_words)}\nExplanation: {sentence}")
    parts.append(f"Now this pair\n{_facts_block(facts, max_title_words)}\nExplanation:")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def choose_shots(pool: pd.DataFrame, rows: dict[str, dict], extractor: AttributeExtractor, k: int,
                 seed: int) -> list[tuple[PairFacts, str]]:
    """k + 1 example pairs (one spare, for when the pair to explain is itself an example), preferring pairs with
    evidence and an intent, with different source items, so the teacher sees the richest grounded style."""
    if k <= 0 or pool.empty:
        return []
    order = pool.sample(frac=1.0, random_state=seed + 1)
    ranked: list[tuple[int, PairFacts, str]] = []
    for row in order.head(400).itertuples(index=False):
        facts, flags = pair_facts(rows, extractor, row.source, row.target, row.intent)
        richness = bool(facts.evidence) + bool(facts.intent)
        ranked.append((richness, facts, one_sentence_example(rows[row.source], rows[row.target], flags,
                                                             facts.intent)))
    ranked.sort(key=lambda r: -r[0])  # stable: seeded order within equal richness
    shots, sources = [], set()
    for _, facts, sentence in ranked:
        if facts.source in sources:
            continue
        sources.add(facts.source)
        shots.append((facts, sentence))
        if len(shots) == k + 1:
            break
    return shots


_ANSWER_LABELS = ("explanation:", "why:", "answer:")
_ECHOED_FIELDS = ("a:", "b:", "matched evidence:", "shoppers' intent:", "example", "now this pair")


def clean_sentence(text: str) -> str:
    """The teacher's answer as one line: the text after an "Explanation:" label when the teacher wrote one,
    else the first line that does not echo a prompt field ("A: ...", "Matched evidence: ..."); no quotes."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    labelled = [line for line in lines if line.lower().startswith(_ANSWER_LABELS)]
    plain = [line for line in lines if not line.lower().startswith(_ECHOED_FIELDS)]
    line = (labelled or plain or [""])[0]
    for label in _ANSWER_LABELS:
        if line.lower().startswith(label):
            line = line[len(label):].strip()
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'":
        line = line[1:-1].strip()
    return " ".join(line.split())
