import subprocess
import sys

from tests.studio_server import REPO_ROOT


def studio(*args, db):
    return subprocess.run([sys.executable, "-m", "studio", *args, "--db", str(db)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_render_is_reproducible_per_seed(db_path):
    first = studio("templates", "render", "short-long", "--seed", "7", db=db_path)
    again = studio("templates", "render", "short-long", "--seed", "7", db=db_path)
    other = studio("templates", "render", "short-long", "--seed", "8", db=db_path)
    assert first.returncode == 0 and first.stdout.strip()
    assert first.stdout == again.stdout
    assert other.stdout != first.stdout


def test_list_shows_every_family_and_version(db_path):
    result = studio("templates", "list", db=db_path)
    assert result.returncode == 0
    for family in ("short-long", "long-short", "short-short", "long-long", "sts", "bitext"):
        assert f"{family}:" in result.stdout
    assert "generate   v2" in result.stdout


def test_set_stores_a_valid_template(db_path, tmp_path):
    template = tmp_path / "brainstorm.j2"
    template.write_text("List {{ n }} retrieval tasks as a JSON list of strings.")
    result = studio("templates", "set", "short-long", "--kind", "brainstorm", "--file", str(template), db=db_path)
    assert result.returncode == 0, result.stderr
    assert "version 2" in result.stdout
    rendered = studio("templates", "render", "short-long", "--kind", "brainstorm", db=db_path)
    assert rendered.stdout.strip() == "List 20 retrieval tasks as a JSON list of strings."


def test_set_refuses_an_unsafe_template_with_one_line(db_path, tmp_path):
    template = tmp_path / "bad.j2"
    template.write_text("{{ ''.__class__ }} {{ task }} user_query positive_document hard_negative_document")
    result = studio("templates", "set", "short-long", "--kind", "generate", "--file", str(template), db=db_path)
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_family_exits_non_zero(db_path):
    result = studio("templates", "render", "poems", db=db_path)
    assert result.returncode != 0
