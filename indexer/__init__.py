"""A collection: KMeans clusters of embeddings, in Faiss + SQLite or Milvus, behind one seam."""
