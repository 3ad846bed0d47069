"""Semantic-ID tokens: residual quantization of item vectors (rq.py), collision-free IDs (semantic_ids.py), the
prefix trie of valid items (trie.py), basket ordering for prompts (history.py), configs (config.py).

Import from the modules themselves: this package file stays empty so that reading a config (eccr.run) does not
load torch."""
