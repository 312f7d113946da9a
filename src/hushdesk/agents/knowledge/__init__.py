"""Each agent's knowledge base: documents, their extracted text in chunks, and the search over
one agent's chunks."""
