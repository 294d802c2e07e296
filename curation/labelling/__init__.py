"""Labelling: accounts and logins, the queue each annotator is served from, votes (append-only), gold pairs, guidelines and labelling statistics."""
