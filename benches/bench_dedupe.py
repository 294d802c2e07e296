"""Near-duplicate speed and quality: prefstudio's vectorized MinHash LSH vs datasketch.

Builds N synthetic documents (30-120 words from a Zipf-like vocabulary); a tenth of them are
planted near-duplicates: copies of another document with 1-8 random word edits, so their
similarity spreads across the threshold. In the same run it times
  * prefstudio: `near_duplicates` (NFKC, lower case, words without punctuation, 128
    permutations, word 5-grams, threshold 0.8, bands/rows from `lsh_parameters`) on all N;
  * datasketch: lower/split/5-gram shingles in Python, `MinHash.bulk`, `MinHashLSH` with the same
    bands and rows (insertion session), a query per document, candidates kept when
    `MinHash.jaccard` >= threshold; on the first `--baseline-docs` documents (all by default).
Quality is measured against exact Jaccard: the truth is every pair of the candidate set (both
methods' candidates and the planted pairs) whose exact shingle Jaccard is >= threshold; recall
is the share of true pairs that prefstudio puts in one cluster, precision the share of
prefstudio's verified pairs that are true.
Prints one JSON line: docs, docs_per_s, datasketch_docs_per_s, ratio_vs_datasketch (throughput
ratio), recall, precision, and datasketch's own recall and precision.

    python benches/bench_dedupe.py --docs 100000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa

from curation.quality.minhash import NGRAM, NUM_PERM, lsh_parameters, near_duplicates


def synthetic_documents(count: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`count` documents and the planted (original, copy) index pairs."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary = np.array(["".join(rng.choice(letters, rng.integers(2, 10))) for _ in range(30000)])
    zipf = 1.0 / np.arange(1, len(vocabulary) + 1) ** 0.8
    zipf /= zipf.sum()
    planted_count = count // 10
    originals = count - planted_count
    lengths = rng.integers(30, 121, originals)
    words = vocabulary[rng.choice(len(vocabulary), lengths.sum(), p=zipf)]
    cuts = np.cumsum(lengths)[:-1]
    documents = [" ".join(doc) for doc in np.split(words, cuts)]
    sources = rng.integers(0, originals, planted_count)
    for source in sources:
        doc = documents[source].split(" ")
        for _ in range(rng.integers(1, 9)):
            position = rng.integers(0, len(doc))
            edit = rng.integers(0, 3)
            if edit == 0:
                doc[position] = vocabulary[rng.integers(0, len(vocabulary))]
            elif edit == 1:
                doc.insert(position, vocabulary[rng.integers(0, len(vocabulary))])
            elif len(doc) > NGRAM:
                del doc[position]
        documents.append(" ".join(doc).capitalize())
    # Shuffle, so that any leading sample (the baseline's) holds planted copies too.
    order = rng.permutation(count)
    position = np.empty(count, np.int64)
    position[order] = np.arange(count)
    planted = position[np.stack([sources, np.arange(originals, count)], axis=1)]
    return [documents[i] for i in order], planted


def run_prefstudio(documents: list[str], threshold: float) -> tuple[float, object]:
    """Seconds for prefstudio's near-duplicate pass over all documents, and its result."""
    start = time.perf_counter()
    found = near_duplicates(pa.array(documents), threshold)
    return time.perf_counter() - start, found


def shingle_set(document: str) -> set[str]:
    """The word 5-grams of a document as datasketch users build them (lower case, split)."""
    words = document.lower().split()
    if len(words) < NGRAM:
        return {" ".join(words)}
    return {" ".join(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def run_datasketch(
    documents: list[str], threshold: float, params: tuple[int, int]
) -> tuple[float, np.ndarray]:
    """Seconds for datasketch's MinHash LSH pass, and its verified pairs (i < j)."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    shingles = ([s.encode() for s in shingle_set(doc)] for doc in documents)  # one doc at a time
    hashes = MinHash.bulk(shingles, num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=params)
    with lsh.insertion_session() as session:
        for key, minhash in enumerate(hashes):
            session.insert(key, minhash, check_duplication=False)
    pairs = set()
    for key, minhash in enumerate(hashes):
        for other in lsh.query(minhash):
            if other > key and minhash.jaccard(hashes[other]) >= threshold:
                pairs.add((key, other))
    elapsed = time.perf_counter() - start
    return elapsed, np.array(sorted(pairs), np.int64).reshape(-1, 2)


def exact_jaccard(documents: list[str], pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of each pair."""
    cache: dict[int, set[str]] = {}

    def shingles_of(index: int) -> set[str]:
        if index not in cache:
            cache[index] = shingle_set(" ".join(documents[index].split()))
        return cache[index]

    out = np.empty(len(pairs))
    for n, (i, j) in enumerate(pairs):
        a, b = shingles_of(int(i)), shingles_of(int(j))
        out[n] = len(a & b) / len(a | b)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument(
        "--baseline-docs", type=int, default=None, help="documents datasketch runs on (default all)"
    )
    args = parser.parse_args()

    documents, planted = synthetic_documents(args.docs)
    params = lsh_parameters(args.threshold, NUM_PERM)
    ours_s, found = run_prefstudio(documents, args.threshold)
    baseline_docs = min(args.baseline_docs or args.docs, args.docs)
    theirs_s, theirs = run_datasketch(documents[:baseline_docs], args.threshold, params)

    # Truth: every pair either method proposed, or planted, with exact Jaccard >= threshold.
    ours_candidates = found.pairs
    pool = np.concatenate([ours_candidates, theirs, np.sort(planted, axis=1)])
    pool = np.unique(pool, axis=0)
    pool = pool[pool[:, 0] != pool[:, 1]]
    truth = pool[exact_jaccard(documents, pool) >= args.threshold]
    recall = float(np.mean(found.labels[truth[:, 0]] == found.labels[truth[:, 1]]))
    precision = float(np.mean(exact_jaccard(documents, found.pairs) >= args.threshold))
    sample_truth = {tuple(p) for p in truth.tolist() if p[1] < baseline_docs}
    theirs_set = {tuple(p) for p in theirs.tolist()}
    theirs_recall = len(sample_truth & theirs_set) / max(len(sample_truth), 1)
    theirs_precision = (
        float(np.mean(exact_jaccard(documents, theirs) >= args.threshold)) if len(theirs) else None
    )

    docs_per_s = args.docs / ours_s
    theirs_per_s = baseline_docs / theirs_s
    print(
        json.dumps(
            {
                "docs": args.docs,
                "threshold": args.threshold,
                "bands_rows": list(params),
                "seconds": round(ours_s, 2),
                "docs_per_s": round(docs_per_s),
                "datasketch_docs": baseline_docs,
                "datasketch_seconds": round(theirs_s, 2),
                "datasketch_docs_per_s": round(theirs_per_s),
                "ratio_vs_datasketch": round(docs_per_s / theirs_per_s, 2),
                "true_pairs": len(truth),
                "recall": round(recall, 4),
                "precision": round(precision, 4),
                "datasketch_recall": round(theirs_recall, 4),
                "datasketch_precision": theirs_precision and round(theirs_precision, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
