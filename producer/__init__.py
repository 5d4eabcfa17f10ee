"""dueq's scheduler service and its Python API."""
