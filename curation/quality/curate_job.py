"""Curation as a job: the store's texts go to a worker, their duplicate groups (and token
counts) come back, and the pass itself runs in the process that holds the store.

`start_curation` writes every prompt's and response's text to the job's folder as Parquet. The
worker (`training.curate_worker`) groups them with MinHash, counts tokens when a tokenizer was
asked for, and writes one chunk naming its result files. Taking that chunk in runs `curate`
on them, in the chunk's one transaction. Texts added after the job started are curated by the
next pass.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from curation.jobs.records import JobRecord
from curation.jobs.runner import create_job, jobs_dir
from curation.quality.curate import check_threshold
from curation.quality.dedupe import subject_texts
from curation.quality.flags import FlagRules
from curation.quality.minhash import DEFAULT_THRESHOLD
from curation.store.store import Store

TEXT_FILES = {"prompt": "prompts.parquet", "response": "responses.parquet"}
GROUP_FILES = {"prompt": "groups_prompt.parquet", "response": "groups_response.parquet"}
TOKENS_FILE = "tokens.parquet"
EMPTY_REPORT = {"flags": {}, "clusters": {}, "largest_clusters": [], "cancelled": False}


def start_curation(
    store: Store,
    *,
    near_dup_threshold: float = DEFAULT_THRESHOLD,
    max_tokens: int = FlagRules.max_tokens,
    truncation_tokens: int = FlagRules.truncation_tokens,
    tokenizer: str | None = None,
) -> JobRecord:
    """Start a curation job with these settings (as `curate` takes them; `tokenizer`: a model
    whose tokenizer counts tokens); return it. Bad settings raise, starting nothing."""
    check_threshold(near_dup_threshold)
    FlagRules(max_tokens=max_tokens, truncation_tokens=truncation_tokens)  # checks them
    jobs_dir(store).mkdir(parents=True, exist_ok=True)
    inputs = Path(tempfile.mkdtemp(prefix=".curate-", dir=jobs_dir(store)))
    try:
        for subject, name in TEXT_FILES.items():
            pq.write_table(subject_texts(store.con, subject), inputs / name)
        params = {
            "near_dup_threshold": near_dup_threshold,
            "max_tokens": max_tokens,
            "truncation_tokens": truncation_tokens,
            "tokenizer": tokenizer,
        }
        return create_job(store, "curate", params, {}, EMPTY_REPORT, inputs=inputs)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)  # gone once it became the job's folder
