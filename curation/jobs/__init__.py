"""Jobs: long work (generation, judging) done by a worker subprocess that never opens the store.

`files` is the job folder's layout (what the parent and the worker write), `processes` the
worker process (launch, identity, cancel, failure cause), `records` the `jobs` table, `kinds`
what each kind's results add to the store, and `runner` the one path that launches workers
and takes their results in.
"""
