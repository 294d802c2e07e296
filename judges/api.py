"""The API judge: an OpenAI-compatible chat endpoint answers the pairwise template in both orders.

The answer letter's log-probabilities give `p_first` when the server returns them; otherwise
the letter the model wrote counts as certain. Requests are rate limited and retried with
exponential backoff on connection errors, 429 and 5xx; what still fails is a failed order.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from judges.base import BothOrdersJudge, JudgeError, OrderScore
from judges.templates import DEFAULT_TEMPLATE, load_template

RETRIED_STATUSES = {408, 409, 429, 500, 502, 503, 504}
Shown = tuple[list[dict[str, str]], str, str]


class RateLimiter:
    """Spaces request starts at least `1 / per_second` seconds apart, across threads."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise JudgeError(f"rate limit must be positive, got {per_second}")
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may start."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        time.sleep(max(0.0, start - now))


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
        if not base_url.startswith(("http://", "https://")):
            raise JudgeError(f"base URL must start with http:// or https://, got {base_url!r}")
        if concurrency < 1 or max_retries < 0:
            raise JudgeError("concurrency must be positive and retries not negative")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.template = template
        self.prompt_template = load_template(template)
        self.logprobs = logprobs
        self.limiter = RateLimiter(requests_per_second)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

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
        import httpx

        headers = {}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        with (
            httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_s) as client,
            ThreadPoolExecutor(self.concurrency) as pool,
        ):
            return list(pool.map(lambda triple: self._score_one(client, triple), shown))

    def _score_one(self, client: Any, triple: Shown) -> OrderScore:
        """Ask for one order, retrying what may pass on a second try."""
        import httpx

        body = self.request_body(*triple)
        error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            self.limiter.wait()
            try:
                response = client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRIED_STATUSES:
                error = f"HTTP {response.status_code}"
                continue
            if response.status_code in (401, 403, 404):
                raise JudgeError(
                    f"{self.base_url} refused the request (HTTP {response.status_code}): "
                    f"check the base URL, the model name and ${self.api_key_env}"
                )
            if response.status_code >= 400:
                return OrderScore(
                    None, {"error": f"HTTP {response.status_code}: {response.text[:300]}"}
                )
            return self.read_answer(response.json())
        return OrderScore(None, {"error": f"gave up after {self.max_retries + 1} tries: {error}"})

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
