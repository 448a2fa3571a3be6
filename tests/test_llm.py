import asyncio
import random
import time

import pytest

from studio.errors import StudioError
from studio.generation.llm import LLMClient, LLMError, LLMSettings, backoff_delay, test_connection as list_endpoint_models
from studio.generation.prices import model_price
from tests.fake_openai import FakeOpenAI, fake  # noqa: F401 (a fixture)

SHORT_LONG_PROMPT = 'Reply with JSON keys "user_query", "positive_document", "hard_negative_document".'


def settings_for(fake, **options):
    return fake.settings(**{"api_key": "sk-test-secret", **options})


def chat(settings, prompt=SHORT_LONG_PROMPT, sleeps=None, **kwargs):
    async def run():
        async def record_sleep(seconds):
            if sleeps is not None:
                sleeps.append(seconds)
            await asyncio.sleep(min(seconds, 0.2))

        async with LLMClient(settings, rng=random.Random(1), sleep=record_sleep) as client:
            completion = await client.chat(prompt, **kwargs)
            return completion, client.usage

    return asyncio.run(run())


def test_a_request_uses_the_paper_sampling_settings_and_counts_usage(fake):
    completion, usage = chat(settings_for(fake))
    request = fake.chat_requests()[0]
    assert request.body["temperature"] == 1.0 and request.body["top_p"] == 1.0
    assert request.body["model"] == "fake-model"
    assert request.body["response_format"]["type"] == "json_object"  # no schema given: plain JSON mode
    assert request.headers["Authorization"] == "Bearer sk-test-secret"
    assert '"user_query"' in completion.text
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert usage.requests == 1 and usage.prompt_tokens == completion.prompt_tokens


def test_a_schema_is_sent_as_json_schema_mode(fake):
    schema = {"type": "object", "properties": {"user_query": {"type": "string"}}, "required": ["user_query"]}
    chat(settings_for(fake), schema=schema)
    sent = fake.chat_requests()[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == schema


def test_429_waits_at_least_retry_after_then_succeeds(fake):
    fake.retry_after = 0.3
    fake.script("rate_limit", "rate_limit", "ok")
    sleeps = []
    completion, usage = chat(settings_for(fake), sleeps=sleeps)
    assert completion.attempts == 3 and usage.retries == 2
    assert len(sleeps) == 2 and all(0.3 <= s <= 0.3 + 0.05 for s in sleeps)
    assert fake.counts() == {"rate_limit": 2, "ok": 1}


def test_500_and_dropped_connection_are_retried(fake):
    fake.script("server_error", "drop", "server_error", "ok")
    completion, _ = chat(settings_for(fake))
    assert completion.attempts == 4
    assert len(fake.chat_requests()) == 4


def test_a_hanging_request_times_out_and_is_retried(fake):
    fake.hang_seconds = 5
    fake.script("hang", "ok")
    started = time.perf_counter()
    completion, _ = chat(settings_for(fake, timeout=0.4))
    assert completion.attempts == 2
    assert 0.4 <= time.perf_counter() - started < 3


def test_retries_are_bounded_and_end_in_a_sentence(fake):
    fake.script(*["server_error"] * 10)
    with pytest.raises(LLMError, match="answered HTTP 500 after 3 tries"):
        chat(settings_for(fake, max_attempts=3))
    assert len(fake.chat_requests()) == 3


def test_persistent_rate_limit_says_to_lower_concurrency(fake):
    fake.script(*["rate_limit"] * 5)
    with pytest.raises(LLMError, match="lower the concurrency"):
        chat(settings_for(fake, max_attempts=2))


def test_backoff_grows_exponentially_with_bounded_jitter():
    settings = LLMSettings(backoff_base=1.0, backoff_cap=8.0)
    rng = random.Random(0)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [backoff_delay(attempt, settings, rng) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step / 4  # jitter really varies


def test_retry_after_is_a_floor_but_capped():
    settings = LLMSettings(backoff_base=0.1, max_retry_after=10)
    rng = random.Random(0)
    assert backoff_delay(1, settings, rng, retry_after=3) >= 3
    assert backoff_delay(1, settings, rng, retry_after=1000) < 10.1


def test_unreachable_endpoint_fails_with_advice():
    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", max_attempts=2, backoff_base=0.01)
    with pytest.raises(LLMError, match="could not connect .* check the base URL"):
        chat(settings)


def test_wrong_model_is_not_retried(fake):
    # The fake answers 404 only for unknown routes; an unknown path stands in for a bad deployment.
    settings = settings_for(fake, base_url=fake.url + "/nowhere", max_attempts=5)
    with pytest.raises(LLMError, match="no model"):
        chat(settings)


def test_endpoint_refusing_json_schema_steps_down_to_json_object_then_none():
    class Picky(FakeOpenAI):
        async def _answer_chat(self, request):
            from aiohttp import web
            body = await request.json()
            if "response_format" in body:
                self._log(request, body, "refused")
                return web.json_response({"error": {"message": "response_format is not supported"}}, status=400)
            return await super()._answer_chat(request)

    with Picky() as fake:
        schema = {"type": "object", "properties": {"user_query": {"type": "string"}}}
        completion, _ = chat(settings_for(fake), schema=schema)
        sent = [r.body.get("response_format", {}).get("type") for r in fake.chat_requests()]
        assert sent == ["json_schema", "json_object", None]
        assert completion.attempts == 1


def test_cost_is_estimated_from_a_configurable_price(fake, monkeypatch):
    completion, usage = chat(settings_for(fake, price_prompt=1.0, price_completion=2.0))
    expected = (completion.prompt_tokens * 1.0 + completion.completion_tokens * 2.0) / 1e6
    assert completion.cost == pytest.approx(expected) and usage.cost == pytest.approx(expected)
    monkeypatch.setenv("STUDIO_LLM_PRICES", '{"fake-model": [10, 20]}')
    completion, _ = chat(settings_for(fake))
    assert completion.cost == pytest.approx((completion.prompt_tokens * 10 + completion.completion_tokens * 20) / 1e6)
    assert model_price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    monkeypatch.delenv("STUDIO_LLM_PRICES")
    completion, usage = chat(settings_for(fake))
    assert completion.cost is None and not usage.cost_known


def test_settings_come_from_environment_and_explicit_values_win(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("STUDIO_LLM_MODEL", "env-model")
    settings = LLMSettings.resolve()
    assert (settings.base_url, settings.model, settings.api_key) == ("http://env/v1", "env-model", "sk-env")
    settings = LLMSettings.resolve(base_url="http://ui/v1", model=" ", api_key="sk-ui")
    assert (settings.base_url, settings.model, settings.api_key) == ("http://ui/v1", "env-model", "sk-ui")
    assert "sk-ui" not in repr(settings) and "sk-ui" not in str(settings.public())
    assert settings.child_env()["OPENAI_API_KEY"] == "sk-ui"
    priced = LLMSettings.resolve(model="m", price_prompt=0.5, price_completion=2)
    monkeypatch.setenv("STUDIO_LLM_PRICES", priced.child_env()["STUDIO_LLM_PRICES"])
    assert LLMSettings.resolve(model="m").price("m") == (0.5, 2.0)  # how a job process sees them


def test_no_endpoint_and_no_key_means_offline(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert LLMSettings.resolve().offline
    assert not LLMSettings.resolve(base_url="http://x/v1").offline


def test_remote_endpoint_without_model_is_a_user_error(fake):
    with pytest.raises(StudioError, match="no model set"):
        LLMClient(LLMSettings(base_url=fake.url))


def test_test_connection_lists_models(fake):
    assert list_endpoint_models(LLMSettings(base_url=fake.url)) == ["fake-model", "fake-model-mini"]


def test_key_never_appears_in_error_messages(fake):
    class Echo(FakeOpenAI):
        async def _answer_chat(self, request):
            from aiohttp import web
            return web.json_response({"error": {"message": "bad key " + request.headers["Authorization"]}},
                                     status=418)

    with Echo() as echo:
        with pytest.raises(LLMError) as error:
            chat(settings_for(echo, api_key="sk-very-secret-123"))
        assert "sk-very-secret-123" not in str(error.value) and "418" in str(error.value)


def test_fake_server_runs_as_a_process_for_other_tests_and_benchmarks():
    import subprocess
    import sys
    import urllib.request

    from studio.config import REPO_ROOT

    process = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--port", "0", "--fault", "fenced=1"],
                               cwd=str(REPO_ROOT), stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("fake-openai listening on http://127.0.0.1:")
        url = line.split()[-1]
        with urllib.request.urlopen(url + "/models", timeout=10) as response:
            assert b"fake-model" in response.read()
        completion, _ = chat(LLMSettings(base_url=url, model="fake-model", timeout=10))
        assert completion.text.startswith("Here is the example") and "```json" in completion.text
    finally:
        process.terminate()
        process.wait(10)


def test_the_environments_key_never_goes_to_an_endpoint_someone_typed(monkeypatch, fake):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://owner.example/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-owner-secret")
    monkeypatch.setenv("STUDIO_LLM_MODEL", "fake-model")
    assert LLMSettings.resolve(base_url="http://owner.example/v1/").api_key == "sk-owner-secret"
    assert LLMSettings.resolve(base_url=fake.url, api_key="sk-typed").api_key == "sk-typed"
    visitor = LLMSettings.resolve(base_url=fake.url)
    assert visitor.api_key is None
    list_endpoint_models(visitor)  # over real HTTP to the typed endpoint
    assert fake.requests and not any("sk-owner-secret" in str(r.headers) for r in fake.requests)
    # A job process inherits the server's environment; the settings' own env must override the key.
    for name, value in visitor.child_env().items():
        monkeypatch.setenv(name, value)
    in_job = LLMSettings.resolve()
    assert in_job.base_url == fake.url and in_job.api_key is None
