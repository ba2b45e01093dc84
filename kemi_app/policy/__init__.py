"""Pure routing decisions: plain data in, plain data out, no KSR and no Redis."""
