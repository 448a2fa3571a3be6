"""How a query is written for the model: the instruction in front (METHOD.md §5). No torch here, so
that code which only formats text (the web server, data loading) does not load it."""

QUERY_TEMPLATE = "Instruct: {instruction}\nQuery: {query}"


def format_query(query: str, instruction: str | None) -> str:
    """`Instruct: {instruction}\\nQuery: {query}` when there is an instruction, else the query alone."""
    instruction = (instruction or "").strip()
    if not instruction:
        return query
    return QUERY_TEMPLATE.format(instruction=instruction, query=query)
