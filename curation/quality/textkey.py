"""Comparison keys for texts: Unicode NFKC, lower case and collapsed whitespace, over whole columns.

Keys are only for finding duplicates; stored texts are never changed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def normalize_keys(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    r"""The duplicate key of every text: NFKC, lower case, runs of whitespace as one space, trimmed.

    >>> normalize_keys(pa.array(["  \uff28\uff45llo,\n\tWORLD ", "hello, world"])).to_pylist()
    ['hello, world', 'hello, world']
    """
    folded = pc.utf8_lower(pc.utf8_normalize(texts, form="NFKC"))
    words = pc.utf8_split_whitespace(folded)
    space = pa.scalar(" ", words.type.value_type)  # string or large_string, as the input
    return pc.utf8_trim_whitespace(pc.binary_join(words, space))


def normalize_key(text: str) -> str:
    """The duplicate key of one text (see `normalize_keys`).

    >>> normalize_key("The  ﬁle\\u00a0IS  here.")
    'the file is here.'
    """
    return normalize_keys(pa.array([text]))[0].as_py()
