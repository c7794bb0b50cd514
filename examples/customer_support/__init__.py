"""Customer support: a router agent handing off to info, tech and human-escalation agents."""
