"""The ``macros`` object of the template context, as Airflow's ``airflow.macros``."""

from __future__ import annotations

import datetime
import json
import random
import time
import uuid
from types import SimpleNamespace

timedelta = datetime.timedelta


def ds_add(ds: str, days: int) -> str:
    """Add or subtract days from a YYYY-MM-DD date: ``ds_add('2015-01-01', 5)`` is ``'2015-01-06'``."""
    if not days:
        return str(ds)
    value = datetime.datetime.strptime(ds, "%Y-%m-%d") + datetime.timedelta(days=days)
    return value.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Reformat a date string: ``ds_format('2015-01-01', '%Y-%m-%d', '%m-%d-%y')`` is ``'01-01-15'``."""
    return datetime.datetime.strptime(str(ds), input_format).strftime(output_format)


macros = SimpleNamespace(
    ds_add=ds_add,
    ds_format=ds_format,
    datetime=datetime.datetime,
    timedelta=datetime.timedelta,
    time=time,
    uuid=uuid,
    random=random.random,
    json=json,
)
