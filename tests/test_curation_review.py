"""Paging and next-example navigation of the Curate tab, decided in studio.curation.review."""

from storage.curation import ExampleFilter, set_status
from storage.db import open_db
from storage.examples import insert_examples
from studio.curation import review
from tests.example_rows import make_rows


def test_neighbour_walks_the_page_then_crosses_its_edges(db_path):
    db = open_db(db_path)
    insert_examples(db, make_rows(12))
    first = review.table_view(db, ExampleFilter(), "newest", 0, 5)
    inside = review.neighbour(db, first.ids[1], first.ids, ExampleFilter(), "newest", 0, 5, +1)
    assert (inside.open_id, inside.view, inside.note) == (first.ids[2], None, "")
    across = review.neighbour(db, first.ids[-1], first.ids, ExampleFilter(), "newest", 0, 5, +1)
    assert across.view.page == 1 and across.open_id == across.view.ids[0]
    back = review.neighbour(db, across.open_id, across.view.ids, ExampleFilter(), "newest", 1, 5, -1)
    assert back.view.page == 0 and back.open_id == first.ids[-1]
    start = review.neighbour(db, first.ids[0], first.ids, ExampleFilter(), "newest", 0, 5, -1)
    assert (start.open_id, start.view, start.note) == (None, None, "This is the first example.")
    last = review.table_view(db, ExampleFilter(), "newest", 2, 5)
    end = review.neighbour(db, last.ids[-1], last.ids, ExampleFilter(), "newest", 2, 5, +1)
    assert end.note == "This is the last example." and end.open_id is None


def test_after_a_decision_that_drops_rows_the_next_undecided_one_opens(db_path):
    db = open_db(db_path)
    insert_examples(db, make_rows(8))
    pending = ExampleFilter(status="pending")
    page = review.table_view(db, pending, "newest", 0, 5)
    # Deciding the page's last row: the rows that moved up into the page come next.
    set_status(db, ExampleFilter(ids=(page.ids[-1],)), "accepted")
    move = review.after_decision(db, page.ids[-1], page.ids, pending, "newest", 0, 5)
    assert move.open_id not in page.ids and move.open_id in move.view.ids and move.view.page == 0


def test_page_turns_stay_in_range(db_path):
    db = open_db(db_path)
    insert_examples(db, make_rows(12))
    assert review.turn_page(db, ExampleFilter(), "newest", 0, 5, "previous").page == 0
    assert review.turn_page(db, ExampleFilter(), "newest", 2, 5, "next").page == 2
    assert review.turn_page(db, ExampleFilter(), "newest", 2, 5, "first").page == 0
    assert review.page_numbered(db, ExampleFilter(), "newest", 2, 5).page == 1
    assert review.table_view(db, ExampleFilter(), "newest", 0, 5).store_is_empty is False
    assert review.table_view(db, ExampleFilter(status="rejected"), "newest", 0, 5).store_is_empty is None
