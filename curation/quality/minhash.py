"""Near-duplicate detection with MinHash and LSH banding, vectorized with numpy over whole corpora.

A document's words are its whitespace-separated tokens without surrounding punctuation; its
shingles are its word 5-grams (a document shorter than 5 words is one shingle). Each shingle
gets a 64-bit hash, of which MinHash uses the top 32 bits; each of the 128 "permutations" is a hash ``(a * h + b) mod 2**32`` (a odd, so a bijection) applied to
all shingles at once, and ``np.minimum.reduceat`` takes the minimum per document. LSH splits the
signature into ``bands`` of ``rows``; documents sharing a band's values become candidates;
candidates are kept when their Jaccard similarity reaches the threshold (estimated from the
signatures, computed exactly from the shingles when the estimate is close); clusters are the
connected components of the kept pairs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NUM_PERM = 128
NGRAM = 5
DEFAULT_THRESHOLD = 0.8
# Pairs taken from one LSH bucket, in sorted order: each member with the next `_BUCKET_REACH`
# members, and every member with the bucket's first one (so huge buckets stay connected).
_BUCKET_REACH = 32
VERIFY_MARGIN = 0.1  # candidates estimated this close to the threshold are checked exactly
_CHUNK_SHINGLES = 4096  # shingles per block; 128 x 4096 x 4 bytes stay in cache
# Trimmed from both ends of words (after NFKC, which turns full-width forms into these).
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u00a1\u00ab\u00bb\u00bf\u2010\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u3001\u3002"  # shingles per block; 128 x 4096 x 4 bytes stay in cache


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, element-wise: a well-spread 64-bit hash of 64-bit values."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _word_hashes(words: pa.Array) -> np.ndarray:
    """A 64-bit hash per word, equal for equal words, computed without a Python loop."""
    encoded = pc.dictionary_encode(words)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.uint64)
    return _mix64(codes + np.uint64(0x9E3779B97F4A7C15))


@dataclass
class Shingles:
    """Shingle hashes of documents, concatenated: document d owns `hashes[starts[d]:starts[d+1]]`."""

    hashes: np.ndarray  # uint64
    starts: np.ndarray  # int64, length documents + 1


def document_words(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """All words of all texts in order, and the word count of each text.

    Texts are split on whitespace after NFKC and lower-casing; surrounding punctuation is trimmed
    and pure punctuation dropped, so "Hello, world!" and "hello world" have the same words.
    """
    folded = pc.utf8_lower(pc.utf8_normalize(texts, form="NFKC"))
    tokens = pc.utf8_split_whitespace(folded)  # every text gives at least one (maybe empty) token
    words = pc.utf8_trim(tokens.flatten(), characters=PUNCTUATION)
    empty = pc.equal(pc.binary_length(words), 0).to_numpy(zero_copy_only=False)
    token_starts = tokens.offsets.to_numpy()[:-1] - tokens.offsets[0].as_py()
    dropped = np.add.reduceat(empty, token_starts) if len(texts) else np.zeros(0, np.int64)
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.filter(words, pa.array(~empty)), lengths - dropped


def shingle_hashes(texts: pa.Array | list[str], ngram: int = NGRAM) -> Shingles:
    """Hash every word `ngram`-gram of every text (see `document_words` for what a word is).

    A text of fewer than `ngram` words gives one shingle of all its words; one without words none.
    """
    texts = pa.array(texts, type=pa.large_string()) if isinstance(texts, list) else texts
    if isinstance(texts, pa.ChunkedArray):  # 64-bit offsets: corpora may exceed 2 GB
        texts = texts.cast(pa.large_string()).combine_chunks()
    words, lengths = document_words(texts)
    word_hash = _word_hashes(words) if len(words) else np.zeros(0, np.uint64)
    word_starts = np.concatenate([[0], np.cumsum(lengths)])
    total = len(word_hash)
    # Position multipliers make a shingle's hash depend on word order.
    weights = _mix64(np.arange(1, ngram + 1, dtype=np.uint64))
    span = max(total - ngram + 1, 0)
    rolled = np.zeros(span, np.uint64)
    for p in range(ngram):
        rolled += word_hash[p : p + span] * weights[p]
    counts = np.where(lengths >= ngram, lengths - ngram + 1, np.minimum(lengths, 1))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    hashes = np.empty(starts[-1], np.uint64)
    full = lengths >= ngram
    # Shingle k of a full document starts at its word k: gather all of them at once.
    first_word = np.repeat(word_starts[:-1][full] - starts[:-1][full], counts[full])
    full_slots = np.flatnonzero(np.repeat(full, counts))
    hashes[full_slots] = rolled[first_word + full_slots]
    short = np.flatnonzero((lengths > 0) & ~full)
    if len(short):
        combined = np.zeros(len(short), np.uint64)
        for p in range(ngram - 1):
            present = lengths[short] > p
            index = np.minimum(word_starts[short] + p, total - 1)
            combined += np.where(present, word_hash[index] * weights[p], np.uint64(0))
        hashes[starts[short]] = combined
    return Shingles(_mix64(hashes), starts)


def permutations(num_perm: int = NUM_PERM, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of `num_perm` hashes `(a * h + b) mod 2**32`, as uint32 columns; a is odd."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 2**32, num_perm, dtype=np.uint32)
    return a[:, None], b[:, None]


def _signature_block(
    hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Signatures (num_perm, documents) of one block of whole documents; `starts` from 0.

    Permutations run along rows so that the per-document minimum reads contiguous memory.
    """
    values = np.multiply(a, hashes[None, :])
    values += b
    return np.minimum.reduceat(values, starts, axis=1)


def minhash_signatures(
    shingles: Shingles, num_perm: int = NUM_PERM, seed: int = 1, threads: int | None = None
) -> np.ndarray:
    """MinHash signatures, one uint32 row of `num_perm` per document.

    Documents without shingles get a row of 0xFFFFFFFF (callers leave them out of LSH).
    """
    a, b = permutations(num_perm, seed)
    hashes32 = (shingles.hashes >> np.uint64(32)).astype(np.uint32)
    starts = shingles.starts
    docs = len(starts) - 1
    signatures = np.full((docs, num_perm), np.iinfo(np.uint32).max, np.uint32)
    has_shingles = np.flatnonzero(np.diff(starts) > 0)
    # Blocks of whole documents holding about _CHUNK_SHINGLES shingles each.
    edges = np.searchsorted(
        starts[has_shingles], np.arange(0, starts[-1], _CHUNK_SHINGLES), side="left"
    )
    edges = np.unique(np.concatenate([edges, [len(has_shingles)]]))

    def run(block: int) -> None:
        docs_in = has_shingles[edges[block] : edges[block + 1]]
        lo, hi = starts[docs_in[0]], starts[docs_in[-1] + 1]
        block_signatures = _signature_block(hashes32[lo:hi], starts[docs_in] - lo, a, b)
        signatures[docs_in] = block_signatures.T

    blocks = range(len(edges) - 1)
    workers = threads or min(os.cpu_count() or 1, 8)
    if workers == 1 or len(blocks) < 2:
        for block in blocks:
            run(block)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, blocks))
    return signatures


def lsh_parameters(
    threshold: float, num_perm: int = NUM_PERM, recall: float = 0.95
) -> tuple[int, int]:
    """Bands and rows per band: the most rows (fewest chance candidates) that still make a pair
    of similarity exactly `threshold` a candidate with probability at least `recall`.

    >>> lsh_parameters(0.8, 128)
    (18, 7)
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def _band_keys(signatures: np.ndarray, band: int, rows: int) -> np.ndarray:
    """One 64-bit key per document for the values of one band."""
    key = np.full(len(signatures), np.uint64(band + 1), np.uint64)
    for column in range(band * rows, (band + 1) * rows):
        key = _mix64(key ^ signatures[:, column].astype(np.uint64))
    return key


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Pairs (i < j) of documents that share all values of at least one band, shape (n, 2)."""
    found = []
    for band in range(bands):
        keys = _band_keys(signatures, band, rows)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        same_as_next = ordered[1:] == ordered[:-1]
        if not same_as_next.any():
            continue
        # Index of each bucket's first member, for every position in sorted order.
        bucket_start = np.flatnonzero(np.concatenate([[True], ~same_as_next]))
        head = np.repeat(bucket_start, np.diff(np.concatenate([bucket_start, [len(order)]])))
        in_bucket = np.flatnonzero(head != np.arange(len(order)))
        found.append(np.stack([order[head[in_bucket]], order[in_bucket]], axis=1))
        for reach in range(1, _BUCKET_REACH + 1):
            match = np.flatnonzero(ordered[reach:] == ordered[:-reach])
            if not len(match):
                break
            found.append(np.stack([order[match], order[match + reach]], axis=1))
    if not found:
        return np.zeros((0, 2), np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    pairs.sort(axis=1)
    codes = np.unique(pairs[:, 0] * len(signatures) + pairs[:, 1])
    return np.stack([codes // len(signatures), codes % len(signatures)], axis=1)


def estimated_jaccard(signatures: np.ndarray, pairs: np.ndarray, block: int = 65536) -> np.ndarray:
    """The share of equal signature values of each pair: an estimate of its Jaccard similarity."""
    out = np.empty(len(pairs), np.float64)
    for lo in range(0, len(pairs), block):
        part = pairs[lo : lo + block]
        out[lo : lo + block] = (signatures[part[:, 0]] == signatures[part[:, 1]]).mean(axis=1)
    return out


def exact_jaccard(shingles: Shingles, pairs: np.ndarray) -> np.ndarray:
    """The Jaccard similarity of the shingle sets of each pair of documents, computed exactly.

    Both documents' shingles are tagged with the pair and sorted together; a run of one hash
    within a pair is one union element, and an intersection element when both sides are in it.
    """
    if not len(pairs):
        return np.zeros(0)
    sizes = np.diff(shingles.starts)
    parts = []
    for side in (0, 1):
        docs = pairs[:, side]
        count = sizes[docs]
        owner = np.repeat(np.arange(len(pairs)), count)
        first = np.repeat(shingles.starts[docs] - np.cumsum(count) + count, count)
        parts.append((owner, shingles.hashes[first + np.arange(count.sum())], side))
    owner = np.concatenate([parts[0][0], parts[1][0]])
    values = np.concatenate([parts[0][1], parts[1][1]])
    side = np.concatenate([np.full(len(parts[0][0]), 0), np.full(len(parts[1][0]), 1)])
    order = np.lexsort((side, values, owner))
    owner, values, side = owner[order], values[order], side[order]
    new_run = np.concatenate([[True], (owner[1:] != owner[:-1]) | (values[1:] != values[:-1])])
    run_starts = np.flatnonzero(new_run)
    run_owner = owner[run_starts]
    both_sides = np.minimum.reduceat(side, run_starts) != np.maximum.reduceat(side, run_starts)
    union = np.bincount(run_owner, minlength=len(pairs))
    inter = np.bincount(run_owner[both_sides], minlength=len(pairs))
    return inter / np.maximum(union, 1)


def verified_pairs(
    shingles: Shingles,
    signatures: np.ndarray,
    candidates: np.ndarray,
    threshold: float,
    margin: float = VERIFY_MARGIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates whose Jaccard similarity reaches `threshold`, and that similarity.

    The signature estimate decides when it is more than `margin` away from the threshold
    (about three standard deviations at 128 permutations); the rest are computed exactly.
    """
    similarity = estimated_jaccard(signatures, candidates)
    unsure = np.flatnonzero(np.abs(similarity - threshold) <= margin)
    similarity[unsure] = exact_jaccard(shingles, candidates[unsure])
    keep = similarity >= threshold
    return candidates[keep], similarity[keep]


def cluster_labels(count: int, pairs: np.ndarray) -> np.ndarray:
    """The connected component of each of `count` documents linked by `pairs`."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix(
        (np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(count, count)
    )
    return connected_components(graph, directed=False)[1]


@dataclass
class NearDuplicates:
    """What a near-duplicate pass found: verified pairs, their similarity, and clusters."""

    pairs: np.ndarray  # (n, 2) document indices, i < j, Jaccard >= threshold
    similarity: np.ndarray  # Jaccard of each pair (estimated, or exact near the threshold)
    labels: np.ndarray  # component per document; documents alone are their own component
    candidates: int  # LSH candidate pairs before verification


def near_duplicates(
    texts: pa.Array | list[str],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    num_perm: int = NUM_PERM,
    ngram: int = NGRAM,
    params: tuple[int, int] | None = None,
    threads: int | None = None,
) -> NearDuplicates:
    """Find near-duplicate documents with MinHash LSH.

    >>> found = near_duplicates(["a b c d e f g h i j", "a b c d e f g h i j k", "x y z"], 0.5)
    >>> found.pairs.tolist(), bool(found.labels[0] == found.labels[1] != found.labels[2])
    ([[0, 1]], True)
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    shingles = shingle_hashes(texts, ngram)
    signatures = minhash_signatures(shingles, num_perm, threads=threads)
    bands, rows = params or lsh_parameters(threshold, num_perm)
    with_shingles = np.flatnonzero(np.diff(shingles.starts) > 0)
    candidates = with_shingles[candidate_pairs(signatures[with_shingles], bands, rows)]
    pairs, similarity = verified_pairs(shingles, signatures, candidates, threshold)
    return NearDuplicates(
        pairs, similarity, cluster_labels(len(signatures), pairs), len(candidates)
    )
