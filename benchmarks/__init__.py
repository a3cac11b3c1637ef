"""The benchmark scripts. A package so that one benchmark can import another's helpers (`from benchmarks.load
import free_port`) instead of editing sys.path; run such a benchmark from the repo root with `python -m`."""
