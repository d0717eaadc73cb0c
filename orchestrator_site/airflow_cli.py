"""The ``airflow`` console script (``pyproject.toml``): the seed's commands exactly as typed there,
``airflow dags list``, ``airflow users create ...``, ``airflow scheduler``, ``airflow webserver -p
8080``, run as this project's management commands (``python manage.py <the same arguments>``).

It exists only inside the project's virtualenv, and only as a command: no ``airflow`` package is
installed, so DAG files' ``import airflow`` still goes to our SDK (``dags_app.sdk.airflow_compat``)
and a real Airflow elsewhere is untouched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    if not args or args[0] in ("-h", "--help", "help"):
        args = ["cheat-sheet"]
    elif args[0] == "version":
        from dags_app.sdk.airflow_compat import AIRFLOW_VERSION

        print(f"{AIRFLOW_VERSION} (this orchestrator, speaking Airflow {AIRFLOW_VERSION}'s commands)")
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(["airflow", *args])


if __name__ == "__main__":
    main()
