"""Summary statistics of a Dataset, as printed by `eccr data stats`."""
from __future__ import annotations

from datetime import datetime, timezone

from eccr.data.schema import ANONYMOUS_USER_PREFIX, NO_TIMESTAMP, Dataset


def dataset_stats(ds: Dataset) -> dict:
    items = ds.catalog.items
    ev = ds.behaviour.events
    ts = ev.loc[ev["timestamp"] != NO_TIMESTAMP, "timestamp"]
    pairs = ds.all_pairs()
    anonymous = ev["user_id"].str.startswith(ANONYMOUS_USER_PREFIX)
    return {
        "name": ds.name,
        "source": ds.source,
        "items": len(items),
        "titled_items": int((items["title"].str.len() > 0).sum()),
        "items_with_category": int(sum(1 for c in items["category"] if c)),
        "items_in_sessions": int(ev["item_id"].nunique()),
        "users": int(ev.loc[~anonymous, "user_id"].nunique()),
        "sessions_without_user": int(ev.loc[anonymous, "session_id"].nunique()),
        "sessions": int(ev["session_id"].nunique()),
        "interactions": len(ev),
        "bundles": len(ds.bundles),
        "bundles_with_intent": int(ds.bundles.rows.loc[ds.bundles.rows["intent"].str.len() > 0, "bundle_id"].nunique()),
        "complement_pairs": len(pairs.drop_duplicates(["source", "target"])),
        "complement_pairs_by_kind": {str(k): int(v) for k, v in
                                     pairs.drop_duplicates(["source", "target", "kind"])["kind"].value_counts().items()},
        "time_span": [_day(ts.min()), _day(ts.max())] if len(ts) else None,
        "dropped": {reason: int(n) for reason, n in ds.dropped.counts.most_common()},
        "dropped_examples": ds.dropped.examples,
        "notes": {what: int(n) for what, n in ds.dropped.notes.most_common()},
    }


def _day(seconds) -> str:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%d")


def format_stats(stats: dict) -> str:
    lines = [f"dataset {stats['name']}  ({stats['source']})"]
    for key in ("items", "titled_items", "items_with_category", "items_in_sessions", "users", "sessions_without_user", "sessions",
                "interactions", "bundles", "bundles_with_intent", "complement_pairs"):
        label = "distinct directed pairs" if key == "complement_pairs" else key.replace("_", " ")
        lines.append(f"  {label:<24} {stats[key]:>12,}")
    for kind, n in stats["complement_pairs_by_kind"].items():
        lines.append(f"    {kind:<22} {n:>12,}")
    span = stats["time_span"]
    lines.append(f"  {'time span':<24} {span[0] + ' – ' + span[1] if span else 'no timestamps':>12}")
    if stats["dropped"]:
        lines.append("  dropped rows:")
        for reason, n in stats["dropped"].items():
            ex = ", ".join(stats["dropped_examples"].get(reason, []))
            lines.append(f"    {n:>8,}  {reason}" + (f"  (e.g. {ex})" if ex else ""))
    else:
        lines.append("  dropped rows: none")
    if stats.get("notes"):
        lines.append("  notes (rows kept):")
        lines += [f"    {n:>8,}  {what}" for what, n in stats["notes"].items()]
    return "\n".join(lines)
