"""An example with no negative has NULL there, never an empty or blank text.

Before this, a CSV import, an emptied text box and older code could each store '' for "none", and
four readers decided for themselves what '' meant. The store now writes NULL for a blank negative
(storage.examples.no_negative); this turns the blanks already stored into NULL.
"""


def apply(db):
    db.execute("UPDATE example_texts SET negative = NULL WHERE negative IS NOT NULL AND trim(negative, ' ' || char(9, 10, 13)) = ''")
