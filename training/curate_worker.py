"""The curation worker: `python -m training.curate_worker DIR`.

Reads the texts `start_curation` wrote to DIR, groups the prompts' and the responses'
(exact and MinHash near duplicates), counts their tokens when a tokenizer was asked for (which
is why it lives beside the models), and writes the results as Parquet files named by one
chunk; it never opens the store. Taking the chunk in runs the curation pass on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.jobs.files import chunk_numbers, worker_main, write_chunk, write_progress
from curation.quality.curate_job import GROUP_FILES, TEXT_FILES, TOKENS_FILE
from curation.quality.dedupe import group_table
from curation.quality.flags import count_text_tokens


def curate_job(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Group the texts (and count their tokens) into one chunk; then remove the texts. Started
    again once its chunk is written, it has nothing left to do."""
    if chunk_numbers(folder):
        return {}
    count_tokens = None
    if params["tokenizer"]:  # a bad tokenizer fails the job before any grouping
        from training.models import token_counter

        count_tokens = token_counter(params["tokenizer"])
    texts = {subject: pq.read_table(folder / name) for subject, name in TEXT_FILES.items()}
    steps = len(texts) + (1 if count_tokens else 0)
    staged: dict[str, Any] = {"groups": {}, "tokens": None}
    for done, (subject, table) in enumerate(texts.items()):
        write_progress(folder, done, steps, f"grouping {len(table):,} {subject}s")
        path = (folder / GROUP_FILES[subject]).resolve()
        pq.write_table(group_table(table, params["near_dup_threshold"]), path)
        staged["groups"][subject] = str(path)
    if count_tokens is not None:
        write_progress(folder, len(texts), steps, "counting tokens")
        all_texts = pa.concat_tables(texts.values(), promote_options="permissive")
        path = (folder / TOKENS_FILE).resolve()
        pq.write_table(count_text_tokens(all_texts, count_tokens), path)
        staged["tokens"] = str(path)
    write_chunk(folder, 1, [staged])
    for name in TEXT_FILES.values():
        (folder / name).unlink()
    write_progress(folder, steps, steps, "flagging pairs in the store")
    return {}


if __name__ == "__main__":
    worker_main(curate_job)
