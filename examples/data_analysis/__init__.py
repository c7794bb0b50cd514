"""Data analysis: a router handing a sales question to query, processing and visualization agents."""
