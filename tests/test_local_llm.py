import asyncio

import pytest

from studio import local_llm
from studio.generation import reply_schema
from studio.families import load_family
from studio.llm import LLMClient, LLMSettings
from studio.replies import parse_object

pytestmark = pytest.mark.skipif(not local_llm.available(), reason="llama-cpp-python is not installed")


def test_the_embedded_model_answers_one_real_request_with_parseable_json(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STUDIO_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = LLMSettings.resolve()
    assert settings.offline
    family = load_family("short-short")
    prompt = ('Write one example as a JSON object with the keys "input" (a single English word) and '
              '"positive_document" (its one-sentence definition).')

    async def ask():
        async with LLMClient(settings) as client:
            assert client.is_local and client.model == "smollm2"
            # Short values keep this test quick on a busy CPU; the grammar still forces the shape.
            schema = reply_schema(family)
            schema["properties"]["input"]["maxLength"] = 24
            schema["properties"]["positive_document"]["maxLength"] = 100
            completion = await client.chat(prompt, schema=schema)
            again = local_llm.ensure_server()  # a second caller reuses the running server
            return completion, again, client

    try:
        completion, again, client = asyncio.run(ask())
        obj = parse_object(completion.text, family.output_keys)
        assert obj["input"] and obj["positive_document"]
        assert completion.completion_tokens > 0 and completion.cost == 0.0
        assert again == local_llm.running_url()
    finally:
        assert local_llm.stop_server()
