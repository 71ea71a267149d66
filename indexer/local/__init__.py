"""The local store: SQLite as the durable truth, per-cluster Faiss flat indexes in memory."""
