import pytest

from studio.generation.replies import ReplyError, parse_list, parse_object

KEYS = ("user_query", "positive_document", "hard_negative_document")
VALID = '{"user_query": "q", "positive_document": "pos", "hard_negative_document": "neg"}'


def test_plain_json_object_of_the_family_shape_parses():
    assert parse_object(VALID, KEYS) == {"user_query": "q", "positive_document": "pos", "hard_negative_document": "neg"}


def test_fenced_json_with_prose_around_it_parses():
    text = f"Sure, here it is:\n```json\n{VALID}\n```\nLet me know."
    assert parse_object(text, KEYS)["positive_document"] == "pos"


def test_json_embedded_in_prose_without_fence_parses():
    assert parse_object(f"Output: {VALID} -- done", KEYS)["user_query"] == "q"


def test_extra_keys_are_ignored_and_values_stripped():
    text = '{"user_query": "  q ", "positive_document": "p", "hard_negative_document": "n", "notes": 3}'
    assert parse_object(text, KEYS) == {"user_query": "q", "positive_document": "p", "hard_negative_document": "n"}


@pytest.mark.parametrize("text, reason", [
    ('{"user_query": "q", "positive_document": "p"}', "missing key 'hard_negative_document'"),
    ('{"user_query": "", "positive_document": "p", "hard_negative_document": "n"}', "key 'user_query' is empty"),
    ('{"user_query": "   ", "positive_document": "p", "hard_negative_document": "n"}', "key 'user_query' is empty"),
    ('{"user_query": 5, "positive_document": "p", "hard_negative_document": "n"}', "should be a string, got a number"),
    ('{"user_query": ["a"], "positive_document": "p", "hard_negative_document": "n"}', "got a list"),
    ('{"user_query": null, "positive_document": "p", "hard_negative_document": "n"}', "got null"),
    ('["a", "b"]', "expected a JSON object, got a JSON list"),
    ('{"user_query": "unterminated', "not valid JSON"),
    ("", "empty reply"),
    ("I cannot do that.", "not valid JSON"),
])
def test_invalid_replies_raise_with_a_reason(text, reason):
    with pytest.raises(ReplyError) as error:
        parse_object(text, KEYS)
    assert reason in str(error.value)


def test_python_literals_are_not_evaluated():
    # Single quotes and True are Python, not JSON: a reply in that form is rejected, never eval'd.
    with pytest.raises(ReplyError):
        parse_object("{'user_query': 'q', 'positive_document': 'p', 'hard_negative_document': __import__('os')}", KEYS)


def test_json_true_null_are_read_as_json_not_python():
    with pytest.raises(ReplyError, match="got a boolean"):
        parse_object('{"user_query": true, "positive_document": "p", "hard_negative_document": "n"}', KEYS)


def test_brainstorm_json_list():
    assert parse_list('["Retrieve A", "Find B"]') == ["Retrieve A", "Find B"]


def test_brainstorm_items_lose_stray_brackets_but_keep_inner_ones():
    # What SmolLM2 wrote: the list's bracket inside the first string.
    reply = '[ "]Given a claim, retrieve abstracts." ,"Visit [Your Page] for help (soon)" ,"Find B [" ]'
    assert parse_list(reply) == ["Given a claim, retrieve abstracts.", "Visit [Your Page] for help (soon)", "Find B"]


def test_brainstorm_fenced_list_with_prose():
    assert parse_list('Here you go:\n```json\n["Retrieve A",\n "Find B"]\n```') == ["Retrieve A", "Find B"]


def test_brainstorm_object_holding_one_list_and_dict_items():
    assert parse_list('{"tasks": [{"task": "Retrieve A"}, "Find B"]}') == ["Retrieve A", "Find B"]


def test_brainstorm_numbered_lines_skip_the_intro():
    text = "Here are three tasks:\n1. Retrieve A for a user\n2) Find B in a corpus\n3. **Match C** to D\n"
    assert parse_list(text) == ["Retrieve A for a user", "Find B in a corpus", "Match C to D"]


def test_brainstorm_bulleted_lines():
    assert parse_list('- Retrieve A\n* Find B\n• Match "C" to D\n- "Quoted task",') == [
        "Retrieve A", "Find B", 'Match "C" to D', "Quoted task"]


def test_brainstorm_plain_lines_without_markers():
    assert parse_list("Tasks:\nRetrieve news articles for a headline\nFind code for a question") == [
        "Retrieve news articles for a headline", "Find code for a question"]


def test_brainstorm_with_nothing_usable_raises():
    with pytest.raises(ReplyError):
        parse_list("   ")
    with pytest.raises(ReplyError):
        parse_list("No.")


def test_raw_newlines_inside_strings_are_accepted():
    text = '{"user_query": "q", "positive_document": "line one\nline two", "hard_negative_document": "n"}'
    assert parse_object(text, KEYS)["positive_document"] == "line one\nline two"
