"""A local web page to start runs, watch them live, stop and resume them, and browse every
run directory under a workdir: `tf-style serve` (the `[web]` extra). See docs/web.md."""
