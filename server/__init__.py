"""The gRPC server that serves one collection."""
