from collections import Counter

import pytest

from storage.db import open_db
from studio.prompts.families import FAMILIES, load_family
from studio.prompts.languages import languages, sample_language
from studio.prompts.templates import TemplateError, make_rng, render, sample_placeholders, validate_template
from studio.prompts.versions import render_prompt

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ task.__init__.__globals__ }}",
    "{{ task['__class__'] }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ range(10) }}",
    "{{ lipsum() }}",
    "{% set x = 1 %}{{ x }}",
    "{% for i in task %}{{ i }}{% endfor %}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{{ task | attr('__class__') }}",
    "{% macro m() %}x{% endmacro %}",
    "{{ self }}",
    "{{ loop }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escapes_are_refused_before_running(payload):
    body = f"{payload} user_query positive_document hard_negative_document {{{{ task }}}}"
    with pytest.raises(TemplateError):
        validate_template("short-long", "generate", body)
    with pytest.raises(TemplateError):
        render(payload, {"task": "t"})  # a stored text that skipped validation is refused too


def test_undefined_placeholder_is_refused_with_its_name():
    with pytest.raises(TemplateError, match="query_colour"):
        validate_template("short-long", "generate",
                          "{{ task }} {{ query_colour }} user_query positive_document hard_negative_document")
    with pytest.raises(TemplateError, match="undefined"):
        render("Hello {{ missing }}", {})


def test_generation_template_must_ask_for_the_output_keys():
    with pytest.raises(TemplateError, match="hard_negative_document"):
        validate_template("short-long", "generate", "{{ task }} user_query positive_document")


def test_syntax_errors_say_the_line():
    with pytest.raises(TemplateError, match="line 2"):
        validate_template("sts", "generate", "S1 S2 S3\n{{ unit ")


def test_every_bundled_template_is_valid():
    for name in FAMILIES:
        family = load_family(name)
        for body in family.generate.values():
            validate_template(name, "generate", body)
        if family.has_brainstorm:
            validate_template(name, "brainstorm", family.brainstorm)
        assert len(family.generate) >= 2


def test_method_value_lists_are_the_papers():
    family = load_family("short-long")
    assert family.placeholders["query_type"].values == ("extremely long-tail", "long-tail", "common")
    assert family.placeholders["num_words"].values == ("50", "100", "200", "300", "400", "500")
    assert load_family("bitext").placeholders["low_score"].values == ("1.5", "2", "2.5")
    assert load_family("sts").instruction == "Retrieve semantically similar text."
    assert load_family("long-short").output_keys == ("input_text", "label", "misleading_label")


def test_same_seed_same_prompt_other_seed_other_prompt(db_path):
    db = open_db(db_path)
    first = render_prompt(db, "short-long", "generate", make_rng(7))
    again = render_prompt(db, "short-long", "generate", make_rng(7))
    other = render_prompt(db, "short-long", "generate", make_rng(8))
    assert first.text == again.text and first.placeholders == again.placeholders
    assert other.text != first.text


def test_workers_draw_independent_streams():
    family = load_family("short-long")
    worker0 = [sample_placeholders(family, make_rng(5, worker=0)) for _ in range(1)]
    streams = {str([sample_placeholders(family, rng) for _ in range(20)])
               for rng in (make_rng(5, worker=0), make_rng(5, worker=1), make_rng(5, worker=2))}
    assert len(streams) == 3
    assert worker0 == [sample_placeholders(family, make_rng(5, worker=0))]


def test_bitext_source_and_target_always_differ():
    family = load_family("bitext")
    rng = make_rng(3)
    for _ in range(3000):
        values = sample_placeholders(family, rng)
        assert values["src_lang"] != values["tgt_lang"]


def test_language_shares_match_the_method_within_one_point():
    table = languages()
    assert len(table) == 93
    rng = make_rng(11)
    counts = Counter(sample_language(rng) for _ in range(10_000))
    expected = {"English": 43.1, **{name: 37.1 / 13 for name in (
        "Arabic", "Chinese", "Dutch", "French", "German", "Indonesian", "Italian", "Japanese", "Persian", "Polish",
        "Portuguese", "Russian", "Spanish")}}
    for language in table:
        share = 100 * counts[language.name] / 10_000
        assert abs(share - expected.get(language.name, 19.8 / 79)) < 1.0, language.name
    others = sum(counts[l.name] for l in table if l.name not in expected) / 100
    assert abs(others - 19.8) < 1.0
