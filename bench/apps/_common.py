"""Shared benchmark data: the route prefixes used to pad the route table."""

# /r0/<int:id> ... /r998/<int:id>; the measured route /items/<int:id> is registered last.
ROUTE_PREFIXES = [f"r{i}" for i in range(999)]
