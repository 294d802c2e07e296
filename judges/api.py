"""The API judge: an OpenAI-compatible chat endpoint answers the pairwise template in both orders.

The answer letter's log-probabilities give `p_first` when the server returns them; otherwise
the letter the model wrote counts as certain. Requests go through the shared
OpenAI-compatible client (rate limit, retries with backoff); what still fails is a failed order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from curation.io.openai_client import EndpointError, EndpointRefused, OpenAIClient, RequestFailed
from judges.base import BothOrdersJudge, JudgeError, OrderScore
from judges.templates import DEFAULT_TEMPLATE, load_template

Shown = tuple[list[dict[str, str]], str, str]


class ApiJudge(BothOrdersJudge):
    """Asks a chat-completions endpoint (`{base_url}/chat/completions`) for the answer letter.

    The key is read from the environment variable `api_key_env` (none is sent when it is
    unset, as local servers expect); it never enters the judge's key or the stored verdicts.
    """

    name = "api"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        template: str = DEFAULT_TEMPLATE,
        logprobs: bool = True,
        requests_per_second: float = 5.0,
        concurrency: int = 4,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        tie_margin: float = 0.0,
    ) -> None:
        super().__init__(tie_margin=tie_margin)
        if concurrency < 1:
            raise JudgeError(f"concurrency must be positive, got {concurrency}")
        try:
            self.client = OpenAIClient(
                base_url,
                api_key_env=api_key_env,
                requests_per_second=requests_per_second,
                max_retries=max_retries,
                backoff_s=backoff_s,
                timeout_s=timeout_s,
                connections=concurrency,
            )
        except EndpointError as error:
            raise JudgeError(str(error)) from None
        self.model = model
        self.base_url = self.client.shown_url
        self.template = template
        self.prompt_template = load_template(template)
        self.logprobs = logprobs
        self.concurrency = concurrency

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "base_url": self.base_url, "logprobs": self.logprobs}

    def request_body(self, prompt: list[dict[str, str]], first: str, second: str) -> dict:
        """The chat-completions request for one order: one answer token, greedy."""
        template = self.prompt_template
        messages = [{"role": "system", "content": template.system}] if template.system else []
        messages.append({"role": "user", "content": template.user_message(prompt, first, second)})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0,
        }
        if self.logprobs:
            body |= {"logprobs": True, "top_logprobs": 10}
        return body

    def score_orders(self, shown: Sequence[Shown]) -> list[OrderScore]:
        with self.client, ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._score_one, shown))

    def _score_one(self, triple: Shown) -> OrderScore:
        """Ask for one order; a request that fails for good is a failed order."""
        try:
            return self.read_answer(self.client.chat(self.request_body(*triple)))
        except EndpointRefused as refused:
            raise JudgeError(str(refused)) from None
        except RequestFailed as failed:
            return OrderScore(None, {"error": str(failed)})

    def read_answer(self, payload: dict) -> OrderScore:
        """`p_first` from a chat-completions response: letter log-probabilities, else the letter."""
        first, second = self.prompt_template.letters
        try:
            choice = payload["choices"][0]
            content = (choice["message"].get("content") or "").strip()
            top = ((choice.get("logprobs") or {}).get("content") or [{}])[0].get("top_logprobs")
        except (KeyError, IndexError, TypeError, AttributeError):
            return OrderScore(
                None, {"error": "not a chat-completions response", "body": str(payload)[:300]}
            )
        raw: dict[str, Any] = {"content": content}
        if top:
            mass = {first: 0.0, second: 0.0}
            for entry in top:
                token = str(entry.get("token", "")).strip()
                if token in mass:
                    mass[token] += math.exp(float(entry["logprob"]))
            if mass[first] + mass[second] > 0:
                raw["letter_mass"] = round(mass[first] + mass[second], 4)
                return OrderScore(mass[first] / (mass[first] + mass[second]), raw)
        letter = re.match(rf"\W*({re.escape(first)}|{re.escape(second)})\b", content)
        if letter is None:
            return OrderScore(None, {"error": "the answer is neither letter", **raw})
        return OrderScore(1.0 if letter.group(1) == first else 0.0, raw)
