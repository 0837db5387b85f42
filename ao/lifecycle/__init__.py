"""The lifecycle engine (core, not a plugin): the state machine, reactions and ``ao watch``."""
