"""What a sentence-transformers model folder says about itself, read without loading torch
(the web server and the evaluation cache keys read it)."""

import json
from pathlib import Path


def configured_max_length(folder: Path) -> int | None:
    """`max_seq_length` of the folder's sentence-transformers config, or None."""
    for name in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
        config_file = Path(folder) / name
        if config_file.exists():
            value = json.loads(config_file.read_text()).get("max_seq_length")
            if value:
                return int(value)
    return None
