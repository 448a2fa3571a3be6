"""The one LLM path: the `openai` async client against any OpenAI-compatible endpoint.

Settings come from explicit values (UI, `--base-url`/`--model`) or the environment
(`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `STUDIO_LLM_MODEL`). With neither a base URL nor a key,
the embedded offline model (studio.generation.local_llm) serves on loopback behind the same client.

Retries are done here, not by the SDK (`max_retries=0`), so that they are bounded, observable
and testable: 429 (honouring Retry-After), 5xx, timeouts and dropped connections are retried
with exponential backoff and jitter; everything else fails at once with a sentence.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime

import httpx2
import openai

from studio.errors import StudioError
from studio.generation.prices import env_prices, estimate_cost, model_price

TEMPERATURE = 1.0
TOP_P = 1.0
LOCAL_MODEL = "smollm2"
LOCAL_TIMEOUT = 900.0
LOCAL_CONCURRENCY = 2  # llama.cpp's server decodes one request at a time; more only queues

class LLMError(StudioError):
    """The endpoint could not give an answer (after the retries that make sense).

    `transient` is False when trying again later cannot help (a bad key, an unknown model).
    """

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class LLMSettings:
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed, stored or logged
    timeout: float = 120.0            # seconds per request
    max_attempts: int = 6             # per request, counting the first
    backoff_base: float = 0.5         # seconds; doubles per attempt
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0    # a longer Retry-After is cut to this
    concurrency: int = 16
    price_prompt: float | None = None      # USD per million tokens; None: look the model up
    price_completion: float | None = None

    @classmethod
    def resolve(cls, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                **options) -> "LLMSettings":
        """Explicit values win over the environment; blanks count as not given.

        The environment's key goes only to the environment's endpoint: a base URL typed by someone
        else (a visitor of a shared studio) gets the key they typed, or none, never the owner's.
        """
        def pick(value, env_name):
            value = (value or "").strip() or (os.environ.get(env_name) or "").strip()
            return value or None

        options = {key: value for key, value in options.items() if value is not None}
        if "timeout" not in options and os.environ.get("STUDIO_LLM_TIMEOUT"):
            options["timeout"] = float(os.environ["STUDIO_LLM_TIMEOUT"])
        typed_url = (base_url or "").strip().rstrip("/")
        env_url = (os.environ.get("OPENAI_BASE_URL") or "").strip().rstrip("/")
        key = (api_key or "").strip() or None
        if key is None and (not typed_url or typed_url == env_url):
            key = pick(None, "OPENAI_API_KEY")
        return cls(base_url=pick(base_url, "OPENAI_BASE_URL"), model=pick(model, "STUDIO_LLM_MODEL"),
                   api_key=key, **options)

    @property
    def offline(self) -> bool:
        """No endpoint configured: the embedded model answers."""
        return not self.base_url and not self.api_key

    def public(self) -> dict:
        """What may be shown or stored (job rows, logs): everything but the key."""
        data = asdict(self)
        data.pop("api_key")
        data["has_api_key"] = bool(self.api_key)
        return data

    def child_env(self) -> dict[str, str]:
        """Environment for a job process: the only way a key travels (never argv, never the db)."""
        env = {}
        if self.base_url:
            env["OPENAI_BASE_URL"] = self.base_url
        # Always set, even empty: a job inherits the server's environment, and the owner's key
        # must not meet an endpoint that someone else typed.
        env["OPENAI_API_KEY"] = self.api_key or ""
        if self.model:
            env["STUDIO_LLM_MODEL"] = self.model
            if self.price_prompt is not None or self.price_completion is not None:
                prices = env_prices()
                prices[self.model] = [self.price_prompt or 0.0, self.price_completion or 0.0]
                env["STUDIO_LLM_PRICES"] = json.dumps(prices)
        return env

    def price(self, model: str) -> tuple[float, float] | None:
        if self.price_prompt is not None or self.price_completion is not None:
            return (self.price_prompt or 0.0, self.price_completion or 0.0)
        return model_price(model)


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    attempts: int
    seconds: float
    finish_reason: str | None = None


@dataclass(kw_only=True)
class TokenCount:
    """Tokens and estimated cost added up over replies (of a client, an example's tries, a job).
    Once one reply's price is unknown, so is the total: `cost_known` turns False for good."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True

    def add_tokens(self, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if cost is None:
            self.cost_known = False
        else:
            self.cost += cost

    @property
    def known_cost(self) -> float | None:
        return self.cost if self.cost_known else None


@dataclass
class Usage(TokenCount):
    requests: int = 0
    retries: int = 0

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.retries += completion.attempts - 1
        self.add_tokens(completion.prompt_tokens, completion.completion_tokens, completion.cost)


def retry_after_seconds(error: Exception) -> float | None:
    """The server's requested wait, from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_delay(attempt: int, settings: LLMSettings, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1`.

    Exponential with "equal jitter" (half fixed, half random) so that many workers hit by the same
    outage do not come back in lockstep; a Retry-After from the server is a floor, not a hint.
    """
    step = min(settings.backoff_cap, settings.backoff_base * (2 ** (attempt - 1)))
    delay = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_retry_after) + rng.uniform(0, step / 4))
    return delay


def _is_retryable(error: Exception) -> bool:
    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500 or error.status_code in (408, 409)
    return False


def _refused(error: Exception) -> bool:
    """True when a "timeout" really was a refused or failed connection: the aiohttp transport
    reports both as ConnectTimeout, but the user needs different advice."""
    cause = error.__cause__ or error.__context__
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


def _response_format_rejected(error: openai.APIStatusError) -> bool:
    text = str(getattr(error, "message", "") or error).lower()
    return error.status_code in (400, 422) and any(word in text for word in ("response_format", "json", "schema"))


@functools.lru_cache(maxsize=1)
def tls_context():
    """The certificate store, loaded once per process (~0.1 s of CPU each time) and inherited by
    forked request workers (studio.generation.pool); the same defaults the SDK would build per client."""
    return httpx2.create_ssl_context()


def _http_client():
    """The SDK's aiohttp transport when available: httpx's own connection pool spends ~1 ms of
    CPU per request at 64 connections (measured by benchmarks/generate_throughput.py)."""
    try:
        return openai.DefaultAioHttpClient(verify=tls_context())
    except RuntimeError:
        return None


# The SDK's telemetry headers (package, OS, runtime): no endpoint needs them, and every header
# is handled several times per request by httpx's header map (~0.1 ms CPU per request).
_TELEMETRY_HEADERS = ("X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-OS", "X-Stainless-Arch",
                      "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Async")


def check_model(settings: LLMSettings) -> None:
    """An endpoint needs a model name (the offline model has its own)."""
    if not settings.offline and not settings.model:
        raise StudioError("no model set: choose one in Settings, pass --model or set STUDIO_LLM_MODEL")


class LLMClient:
    """One client per job. `chat` is safe to call from many tasks at once."""

    def __init__(self, settings: LLMSettings, rng: random.Random | None = None, sleep=asyncio.sleep,
                 require_model: bool = True):
        self.settings = settings
        self.rng = rng or random.Random()
        self._sleep = sleep
        self.usage = Usage()
        self.is_local = settings.offline
        if self.is_local:
            from studio.generation import local_llm

            base_url = local_llm.ensure_server()
            api_key = "local"
            self.model = LOCAL_MODEL
        else:
            base_url = settings.base_url  # None: the SDK's default (api.openai.com)
            api_key = settings.api_key or "not-needed"  # many self-hosted servers need none
            if require_model:
                check_model(settings)
            self.model = settings.model or ""
        self._price = (0.0, 0.0) if self.is_local else settings.price(self.model)
        # The local server answers one request at a time: a queued request must not time out.
        timeout = max(settings.timeout, LOCAL_TIMEOUT) if self.is_local else settings.timeout
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout,
                                          http_client=_http_client(),
                                          default_headers={name: openai.Omit() for name in _TELEMETRY_HEADERS})
        # Ladder of response formats; we step down when an endpoint refuses one.
        self._formats = ["json_schema", "json_object", "none"]

    @property
    def openai(self) -> openai.AsyncOpenAI:
        """The SDK client itself, for the Batch API's file and batch routes."""
        return self._client

    @property
    def price_known(self) -> bool:
        return self._price is not None

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def _response_format(self, schema: dict | None, json_reply: bool):
        if self.is_local:
            # llama.cpp compiles the schema into a grammar: the tiny model cannot produce anything else.
            from studio.generation.local_llm import bounded_schema

            return {"type": "json_object", "schema": bounded_schema(schema)} if schema else None
        if not json_reply:
            return None
        mode = self._formats[0]
        if mode == "json_schema" and schema and schema.get("type") == "object":
            return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
        if mode in ("json_schema", "json_object"):
            return {"type": "json_object"}
        return None

    def _scrub(self, text: str) -> str:
        key = self.settings.api_key
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text[:300]

    async def chat(self, prompt: str, schema: dict | None = None, json_reply: bool = True,
                   max_tokens: int | None = None) -> Completion:
        """One completion of a single user message, retried as the module docstring says."""
        attempt = 0
        started = time.perf_counter()
        while True:
            attempt += 1
            response_format = self._response_format(schema, json_reply)
            kwargs = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                      "temperature": TEMPERATURE, "top_p": TOP_P}
            if response_format is not None:
                kwargs["response_format"] = response_format
            if max_tokens:
                kwargs["max_tokens"] = max_tokens
            try:
                # The SDK's own POST (auth, base URL, timeout, typed errors) without its per-call
                # parameter transformation and response models: those cost ~2 ms of CPU per request.
                response = json.loads(await self._client.post("/chat/completions", body=kwargs, cast_to=bytes))
            except openai.APIStatusError as error:
                if response_format is not None and not self.is_local and _response_format_rejected(error):
                    self._step_down(response_format["type"])
                    attempt -= 1  # the endpoint told us what it supports; that is not a failed try
                    continue
                self._raise_or_wait_check(error, attempt)
                await self._sleep(backoff_delay(attempt, self.settings, self.rng, retry_after_seconds(error)))
                continue
            except (openai.APITimeoutError, openai.APIConnectionError) as error:
                self._raise_or_wait_check(error, attempt)
                await self._sleep(backoff_delay(attempt, self.settings, self.rng))
                continue
            return self._completion(response, attempt, time.perf_counter() - started)

    def _step_down(self, refused: str) -> None:
        """Stop sending a response format the endpoint refused (json_object refused: no JSON mode at all)."""
        drop = {"json_schema"} if refused == "json_schema" else {"json_schema", "json_object"}
        self._formats = [mode for mode in self._formats if mode not in drop]

    def _raise_or_wait_check(self, error: Exception, attempt: int) -> None:
        """Raise LLMError unless the error is worth another try and tries are left."""
        if _is_retryable(error) and attempt < self.settings.max_attempts:
            return
        raise LLMError(self.describe(error, attempt), transient=_is_retryable(error)) from None

    def describe(self, error: Exception, attempts: int = 1) -> str:
        where = "the local model" if self.is_local else f"the endpoint {self.settings.base_url or 'api.openai.com'}"
        tries = f" after {attempts} tries" if attempts > 1 else ""
        if isinstance(error, openai.AuthenticationError):
            return f"{where} rejected the API key: check the key in Settings or OPENAI_API_KEY"
        if isinstance(error, openai.PermissionDeniedError):
            return f"{where} refused access with this key: check the key's permissions"
        if isinstance(error, openai.NotFoundError):
            return f"{where} has no model {self.model!r} (or no such route): pick a model that 'test connection' lists"
        if isinstance(error, openai.RateLimitError):
            return f"{where} kept answering 429 rate limit{tries}: lower the concurrency or try again later"
        if isinstance(error, openai.APITimeoutError) and not _refused(error):
            return f"{where} did not answer within {self.settings.timeout:g} s{tries}: raise the timeout or check the server"
        if isinstance(error, openai.APIConnectionError):  # (APITimeoutError is one too)
            return f"could not connect to {where}{tries}: check the base URL and that the server is running"
        if isinstance(error, openai.APIStatusError):
            detail = self._scrub(str(getattr(error, "message", "") or ""))
            return f"{where} answered HTTP {error.status_code}{tries} ({detail}): check the settings or try again later"
        return f"{where} failed{tries}: {self._scrub(str(error))}"

    def _completion(self, response, attempts: int, seconds: float) -> Completion:
        if not isinstance(response, dict):
            raise LLMError(f"the endpoint answered something that is not a chat completion: {self._scrub(str(response))}")
        choices = response.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        text = (choice.get("message") or {}).get("content") or ""
        usage = response.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        completion = Completion(
            text=text if isinstance(text, str) else json.dumps(text), model=response.get("model") or self.model,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            cost=estimate_cost(self._price, prompt_tokens, completion_tokens), attempts=attempts, seconds=seconds,
            finish_reason=choice.get("finish_reason"))
        self.usage.add(completion)
        return completion

    async def list_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except openai.OpenAIError as error:
            raise LLMError(self.describe(error)) from None
        return sorted(model.id for model in page.data)


def test_connection(settings: LLMSettings) -> list[str]:
    """The model names the endpoint lists (sync, for the UI's button and the CLI)."""
    async def run():
        client = LLMClient(replace(settings, max_attempts=1, timeout=min(settings.timeout, 15.0)),
                           require_model=False)
        try:
            return await client.list_models()
        finally:
            await client.aclose()

    return asyncio.run(run())
