import asyncio

import pytest

from studio import aio


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_the_llm_steps_run_on_uvloop_where_it_is_installed():
    assert aio.run(_loop_module()).startswith("uvloop")


def test_a_failure_inside_comes_out_as_itself():
    async def fail():
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        aio.run(fail())
