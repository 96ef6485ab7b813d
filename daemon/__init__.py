"""The bexsync daemon: state, scheduling, sync engine and the JSON-RPC server."""
