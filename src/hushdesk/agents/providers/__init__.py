"""Model providers behind one interface: streamed chat, and embeddings where offered."""
