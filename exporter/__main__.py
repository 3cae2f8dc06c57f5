"""Run the exporter CLI: ``python -m exporter build``."""
from exporter.cli import main

raise SystemExit(main())
