"""The generation stage: an LLM writes tasks and examples.

`llm` is the one client for every OpenAI-compatible endpoint, `pool` keeps requests in flight,
`local_llm` serves the bundled SmolLM2 on loopback when no endpoint is set, `replies` reads what
the LLM wrote, `prices` turns tokens into cost, `brainstorm` proposes tasks, `examples` writes
examples for tasks as a resumable job (`generation_jobs` starts, resumes and reports those jobs),
and `batch_api` does the same work through OpenAI's Batch API.
"""
