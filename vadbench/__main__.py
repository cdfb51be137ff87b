"""``python -m vadbench`` (also what ``torchrun -m vadbench`` runs)."""

from vadbench.cli import main

main()
