"""The worker that learns a judge: `python -m judges.learn_worker DIR`.

Reads DIR/params.json (the method, base model, the snapshot's train and test pairs, and for
the reward method the trained model's folder), builds the judge (the light judge is fitted
here and its classifier saved under the store's files folder, which holds no store data),
then writes one chunk per judge: the new judge's verdicts on the test pairs, and each rule
baseline's on the pairs of both splits it has not judged yet (its calibration is fitted on
the training pairs). It never opens
the store. Started again on the same folder it skips the judges its chunks already hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.jobs.files import (
    chunk_numbers,
    worker_main,
    write_chunk,
    write_progress,
    written_rows,
)
from judges.base import Judge
from judges.learn import learn_light
from judges.registry import build_judge
from judges.runs import judge_rows, verdict_records


def new_judge(folder: Path, params: dict[str, Any]) -> Judge:
    """The judge the job learns: the light judge fitted on the training pairs, or a reward
    judge on the model its training run made."""
    if params["method"] == "reward":
        from judges.reward import RewardJudge

        return RewardJudge(params["model_folder"])
    from judges.learned import DEFAULT_MODEL

    def progress(done: int, total: int) -> None:
        write_progress(folder, done, total, "reading features of the training pairs")

    return learn_light(
        Path(params["files_dir"]), params["train"], params["model"] or DEFAULT_MODEL, progress
    )


def learn_job(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Learn the judge, then write each judge's verdicts not written yet, a chunk per judge."""
    judge = new_judge(folder, params)
    baselines = [(build_judge(kind), todo) for kind, todo in params["baselines"].items()]
    work = [(judge, params["test"]), *((rule, todo) for rule, todo in baselines if todo)]
    written = {row["judge"]["key"] for row in written_rows(folder) if "judge" in row}
    number = max(chunk_numbers(folder), default=0)
    for step, (current, rows) in enumerate(work):
        write_progress(folder, step, len(work), f"judging with {current.label}")
        if current.key() in written:
            continue
        items, verdicts = judge_rows(current, rows)
        identity = {
            "key": current.key(),
            "description": current.describe(),
            "label": current.label,
            "order_free": current.order_free,
        }
        number += 1
        write_chunk(folder, number, [{"judge": identity}, *verdict_records(items, verdicts)])
    write_progress(folder, len(work), len(work), "finished")
    return {"judge_key": judge.key(), "judge": judge.label}


if __name__ == "__main__":
    worker_main(learn_job)
