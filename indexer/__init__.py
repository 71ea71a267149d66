"""KMeans clusters of embeddings, each searched through its own Faiss flat index."""
