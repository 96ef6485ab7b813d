"""Use cases behind the RPC methods; each module owns the queries of its tables."""
