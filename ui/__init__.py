"""The web app: a browser front end to a lookalike server, itself a client of the gRPC API."""
