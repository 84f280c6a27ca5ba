"""tapelog's side-by-side benchmarks: ``python -m benchmarks`` (see ``benchmarks/README.md``)."""
