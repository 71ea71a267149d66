"""The Milvus store: a collection's images in a Milvus collection, clusters as its partition key."""
