"""Model specs that name a Hugging Face Hub repository ("HuggingFaceTB/SmolLM2-135M-Instruct").

Offline is the default here: `eccr`, app.py and the tests set HF_HUB_OFFLINE=1 unless the environment already
says otherwise, and weights come from packages or local folders. A user who is online and wants a hub model sets
HF_HUB_OFFLINE=0 (or leaves it unset outside the CLI); a hub id then goes to `from_pretrained` like in any
Hugging Face project. Offline, a hub id is refused with an error naming the spec and the switch.
"""
from __future__ import annotations

import os
import re

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
_TRUE = {"1", "ON", "YES", "TRUE"}


class ModelNotFoundError(FileNotFoundError, ValueError):
    """A model spec that names nothing loadable here. A FileNotFoundError (the CLI prints it in one line) and a
    ValueError (what spec checks raised before)."""


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set to a true value, read now (not at import time)."""
    return any(os.environ.get(name, "").strip().upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_like_hub_id(spec: str) -> bool:
    """"name" or "namespace/name" in the hub's characters; paths ("./x", "/x", "~/x", "a/b/c") are not."""
    return bool(_HUB_ID.match(spec)) and ".." not in spec and "--" not in spec


def hub_model_id(spec: str, what: str, local: str) -> str:
    """`spec` as a hub id to download, when it is one and the hub may be used; otherwise ModelNotFoundError
    naming the spec (`what`: the setting it came from; `local`: the local kinds, "a packaged model nor a folder")."""
    if not looks_like_hub_id(spec):
        raise ModelNotFoundError(f"{what} {spec!r} is neither {local}, nor a hub id")
    if hub_offline():
        raise ModelNotFoundError(f"{what} {spec!r} is neither {local}, nor available offline: it looks like a "
                                 "Hugging Face Hub id and HF_HUB_OFFLINE is set (eccr's default). Set "
                                 "HF_HUB_OFFLINE=0 to download it, or give a local folder")
    return spec
