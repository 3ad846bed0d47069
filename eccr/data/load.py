"""One entry point for every source format: `load_dataset(PATH)` picks the loader from what PATH holds.

- `demo`                                  the embedded demo catalogue with simulated sessions (ours)
- a folder with bundle_item.csv           Amazon bundle-intent format (../shared/data/amazon_bundle_intents/<domain>)
- a folder with also_bought.csv           Amazon UK toys "also bought" scrape
- a *.json / *.jsonl(.gz) file            McAuley Amazon product metadata (asin, title, categories, related …)
- a *.toml / *.json spec with `format = "generic"`  generic CSV/JSONL/Parquet with a column mapping
"""
from __future__ import annotations

from pathlib import Path

from eccr.data.schema import DataError, Dataset


def load_dataset(source: str | Path, **options) -> Dataset:
    text = str(source)
    if text == "demo" or text.startswith("demo:"):
        from eccr.data.demo import load_demo
        return load_demo(**options)
    path = Path(source)
    if not path.exists():
        raise DataError("no such file or folder (give a dataset folder/file, a generic spec, or 'demo')", file=path)
    if path.is_dir():
        from eccr.data.bundle_intents import is_bundle_intent_folder, load_bundle_intents
        if is_bundle_intent_folder(path):
            return load_bundle_intents(path, **options)
        if (path / "also_bought.csv").exists() and (path / "products.csv").exists():
            from eccr.data.uk_toys import load_uk_toys
            return load_uk_toys(path, **options)
        for spec in ("spec.json", "spec.toml"):
            if (path / spec).exists():
                from eccr.data.generic import load_generic
                return load_generic(path / spec, **options)
        if (path / "catalog.parquet").exists():  # the layout `eccr data synth` writes
            from eccr.data.generic import load_generic
            return load_generic(path, **options)
        raise DataError("folder matches no known format (bundle_item.csv, also_bought.csv + products.csv, "
                        "spec.json/spec.toml for the generic loader, or catalog.parquet)", file=path)
    suffixes = "".join(path.suffixes).lower()
    if path.name.endswith("spec.json") or suffixes.endswith(".toml"):
        from eccr.data.generic import load_generic
        return load_generic(path, **options)
    if any(suffixes.endswith(s) for s in (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".ndjson")):
        from eccr.data.mcauley import load_mcauley
        return load_mcauley(path, **options)
    raise DataError("unknown file type; CSV/Parquet tables need a generic spec (see README, 'Your own data')",
                    file=path)
