"""Exact and near duplicates of prompts, responses and pairs, and the vectorized MinHash LSH."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import table_counts

from curation import import_paths
from curation.quality.curate import CurateError, curate
from curation.quality.dedupe import list_clusters
from curation.quality.minhash import exact_jaccard, near_duplicates, shingle_hashes

LONG = (
    "Explain in plain words how a refrigerator keeps food cold, what the compressor does, "
    "why the coils at the back feel warm, and how the thermostat decides when to run"
)
NEAR_LONG = LONG + " again"  # one extra word: 30 of 31 word 5-grams shared
ANSWER = (
    "A refrigerator pumps heat out of the box: the compressor squeezes a refrigerant so it "
    "gets hot, the coils at the back shed that heat into the room, and the thermostat starts "
    "the cycle whenever the inside warms past its setting"
)


def clusters(store, subject, kind):
    """Member sets of the recorded clusters of one subject and kind."""
    return [set(c["members"]) for c in list_clusters(store, subject, kind)]


def ids_of(store, table, column, values):
    """Ids of the rows of `table` whose `column` is one of `values`."""
    rows = store.con.execute(
        f"SELECT id FROM {table} WHERE list_contains(?, {column})", [values]
    ).fetchall()
    return {r[0] for r in rows}


def response_ids(store, *texts):
    return ids_of(store, "responses", "text", list(texts))


def prompt_ids(store, *texts):
    return ids_of(store, "prompts", "json_extract_string(messages, '$[0].content')", list(texts))


def test_prompts_equal_after_nfkc_case_and_whitespace_are_one_exact_cluster(store, write_jsonl):
    variants = ["What is 2+2?", "  what   IS 2+2? ", "What is \uff12+\uff12?"]
    import_paths(
        store,
        [write_jsonl("p.jsonl", [{"prompt": v, "chosen": "4", "rejected": "5"} for v in variants])],
    )
    before = table_counts(store)
    curate(store)
    assert clusters(store, "prompt", "exact") == [prompt_ids(store, *variants)]
    [cluster] = list_clusters(store, "prompt", "exact")
    assert cluster["representative"] in prompt_ids(store, variants[0])
    assert table_counts(store) == before  # nothing deleted


def test_identical_responses_under_different_prompts_are_an_exact_cluster(store, write_jsonl):
    records = [
        {"prompt": "Capital of Peru?", "chosen": "Lima.", "rejected": "I don't know."},
        {"prompt": "Capital of Chad?", "chosen": "N'Djamena.", "rejected": "I don't  KNOW."},
    ]
    import_paths(store, [write_jsonl("r.jsonl", records)])
    curate(store)
    assert clusters(store, "response", "exact") == [
        response_ids(store, "I don't know.", "I don't  KNOW.")
    ]
    assert clusters(store, "prompt", "exact") == []


def test_a_pair_and_its_swapped_twin_are_one_exact_cluster(store, write_jsonl):
    records = [
        {"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "Seven."},
        {"prompt": "name a colour. ", "chosen": "seven.", "rejected": "blue."},
    ]
    import_paths(store, [write_jsonl("pairs.jsonl", records)])
    report = curate(store)
    pair_ids = {r[0] for r in store.con.execute("SELECT id FROM pairs").fetchall()}
    assert len(pair_ids) == 2 and clusters(store, "pair", "exact") == [pair_ids]
    assert report.duplicates.counts["pair"]["exact"].duplicates == 1
    assert report.flags == {"duplicate": 1}


def test_near_duplicate_prompts_responses_and_pairs_are_near_clusters(store, write_jsonl):
    records = [
        {"prompt": LONG, "chosen": ANSWER, "rejected": "No idea."},
        {"prompt": NEAR_LONG, "chosen": ANSWER + " today", "rejected": "no  IDEA."},
        {
            "prompt": "Something else entirely, about cats and their sleep",
            "chosen": "a",
            "rejected": "b",
        },
    ]
    import_paths(store, [write_jsonl("near.jsonl", records)])
    curate(store)
    assert clusters(store, "prompt", "near") == [prompt_ids(store, LONG, NEAR_LONG)]
    assert clusters(store, "prompt", "exact") == []
    assert clusters(store, "response", "near") == [response_ids(store, ANSWER, ANSWER + " today")]
    assert clusters(store, "response", "exact") == [response_ids(store, "No idea.", "no  IDEA.")]
    assert len(clusters(store, "pair", "near")[0]) == 2


def test_near_duplicate_threshold_is_configurable(store, write_jsonl):
    records = [
        {"prompt": LONG, "chosen": "x", "rejected": "y"},
        {"prompt": NEAR_LONG, "chosen": "x", "rejected": "y"},
    ]
    import_paths(store, [write_jsonl("near.jsonl", records)])
    assert curate(store, near_dup_threshold=0.99).duplicates.counts["prompt"]["near"].clusters == 0
    assert curate(store, near_dup_threshold=0.8).duplicates.counts["prompt"]["near"].clusters == 1
    with pytest.raises(CurateError, match="threshold"):
        curate(store, near_dup_threshold=1.5)


def test_rerunning_curate_replaces_clusters_instead_of_adding(store, write_jsonl):
    records = [{"prompt": p, "chosen": "x", "rejected": "y"} for p in ("Hi there", "hi  there")]
    import_paths(store, [write_jsonl("p.jsonl", records)])
    curate(store)
    first = list_clusters(store)
    curate(store)
    assert list_clusters(store) == first


def test_exact_jaccard_counts_shared_shingles():
    shingles = shingle_hashes(["a b c d e f g h", "a b c d e f g x", "q r s"])
    similarity = exact_jaccard(shingles, np.array([[0, 1], [0, 2], [1, 1]]))
    assert similarity.tolist() == [3 / 5, 0.0, 1.0]


def test_short_texts_are_one_shingle_and_punctuation_does_not_count():
    shingles = shingle_hashes(pa.array(["Hello, world!", "hello world", "hello there", ""]))
    assert np.diff(shingles.starts).tolist() == [1, 1, 1, 0]
    assert shingles.hashes[0] == shingles.hashes[1] != shingles.hashes[2]


def test_near_duplicates_finds_planted_copies_among_random_documents():
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(5000)]
    docs = [" ".join(rng.choice(vocabulary, 60)) for _ in range(2000)]
    planted = [(i, len(docs) + k) for k, i in enumerate(range(0, 2000, 100))]
    docs += [docs[i] + " extra" for i, _ in planted]
    found = near_duplicates(docs, 0.8)
    assert {tuple(p) for p in found.pairs.tolist()} == set(planted)
    assert all(found.labels[i] == found.labels[j] for i, j in planted)
