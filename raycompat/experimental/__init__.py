"""``ray.experimental``: only ``tqdm_ray`` is provided."""

from __future__ import annotations
