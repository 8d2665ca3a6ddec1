"""Speed and memory measurements (``make bench``); results go to docs/benchmarks.md."""
