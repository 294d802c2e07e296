"""Quality: exact and near-duplicate clusters, flags on pairs, annotator agreement, and the curation pass that runs them."""
