"""Studies and measurements: run each script from the repository root as
``python -m benchmarks.<folder>.<script>``."""
