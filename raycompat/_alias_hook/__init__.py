"""A folder put first on PYTHONPATH for the Python processes a Ray script starts (``HOOK_DIR`` in
``_alias.py``): its ``ray`` package makes ``import ray`` give raycompat there too."""
