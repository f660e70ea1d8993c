"""``python -m raycompat SCRIPT [ARGS...]``: run a Ray script unchanged on Dask."""

from ._cli import main

if __name__ == "__main__":
    main()
