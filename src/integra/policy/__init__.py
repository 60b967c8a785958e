"""Organisation-wide rules on who may be phoned and how often, shared by every campaign on one ledger."""
