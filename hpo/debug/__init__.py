"""Debugging aids, not part of the service: nothing in hpo imports them unless asked.

- `hpo.debug.memprobe`: tracemalloc and RSS reports of a running `hpo serve`
  (`HPO_DEBUG_TRACEMALLOC`, see its docstring).
"""
