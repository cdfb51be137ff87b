"""Which executor a ``vadbench grid`` runs on: this process, or submitit jobs on Slurm / local processes.

Asking for a cluster that is not there is an error, never a silent fall-back to local execution.

Example:
    >>> resolve_executor("local", None)
    ('local', None)
    >>> resolve_executor("slurm", "local")
    ('slurm', 'local')
"""

from __future__ import annotations

from vadbench.errors import ConfigError

#: ``--cluster`` values accepted with ``--executor slurm`` (submitit's ``AutoExecutor`` clusters).
CLUSTERS = ("slurm", "local", "debug")


def resolve_executor(
    executor: str, cluster: str | None, *, slurm_options: dict[str, object] | None = None
) -> tuple[str, str | None]:
    """Validate ``(executor, cluster)`` and return what will run.

    ``executor="slurm"`` with ``cluster=None`` means Slurm itself: it must be installed (``sbatch`` on the
    PATH, as submitit detects it), else an error that says how to run the jobs as local processes.
    ``cluster`` and Slurm options (partition, GPUs) are only accepted with ``executor="slurm"``.
    """
    if executor not in ("local", "slurm"):
        raise ConfigError(f"unknown executor {executor!r}; expected local or slurm")
    given = {k: v for k, v in (slurm_options or {}).items() if v}
    if executor == "local":
        if cluster is not None:
            raise ConfigError(
                f"--cluster {cluster} applies to --executor slurm only; --executor local runs every pair "
                "in this process (use --executor slurm --cluster local for submitit local jobs)"
            )
        if given:
            raise ConfigError(
                f"{', '.join('--' + k for k in sorted(given))} applies to --executor slurm only "
                "(--executor local runs every pair in this process)"
            )
        return "local", None
    if cluster is not None and cluster not in CLUSTERS:
        raise ConfigError(f"unknown --cluster {cluster!r}; expected one of {', '.join(CLUSTERS)}")
    if cluster in (None, "slurm"):
        import shutil

        if shutil.which("sbatch") is None:
            raise ConfigError(
                "--executor slurm: Slurm is not available on this machine (no `sbatch` on the PATH); "
                "run on a Slurm login node, or pass --cluster local to run the jobs as local processes"
            )
        return "slurm", "slurm"
    return "slurm", cluster
