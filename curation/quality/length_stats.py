"""Response lengths for curation plots: every response's length, and chosen vs rejected per pair."""

from __future__ import annotations

import pandas as pd

from curation.store.store import Store


def response_lengths(store: Store) -> pd.DataFrame:
    """Characters of every response in a pair, with its role: chosen, rejected or unlabelled.

    Roles follow the labels' majority (pairs without one are unlabelled); a response in
    several pairs appears once per pair.
    """
    return store.con.sql(
        """SELECT length(r.text) AS characters,
                  CASE WHEN v.votes_a IS NULL OR v.votes_a = v.votes_b THEN 'unlabelled'
                       WHEN (v.votes_a > v.votes_b) = (r.id = p.response_a) THEN 'chosen'
                       ELSE 'rejected' END AS role
        FROM pairs p JOIN responses r ON r.id IN (p.response_a, p.response_b)
        LEFT JOIN pair_votes v ON v.pair_id = p.id
        ORDER BY role, characters"""
    ).df()


def chosen_vs_rejected(store: Store) -> pd.DataFrame:
    """Per pair whose labels favour one side: the chosen and the rejected response's characters."""
    return store.con.sql(
        """SELECT p.id AS pair_id,
                  length(CASE WHEN v.votes_a > v.votes_b THEN ra.text ELSE rb.text END) AS chosen,
                  length(CASE WHEN v.votes_a > v.votes_b THEN rb.text ELSE ra.text END) AS rejected
        FROM pairs p JOIN pair_votes v ON v.pair_id = p.id
        JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
        WHERE v.votes_a <> v.votes_b ORDER BY p.id"""
    ).df()
