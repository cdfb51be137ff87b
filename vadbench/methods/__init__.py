"""Methods: one module (or package) per method, plus :mod:`vadbench.methods.base` (the Method contract)."""
