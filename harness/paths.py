"""Where the project's own files live; below every other harness module, so any may import it."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"
STUDIES_DIR = PROJECT_ROOT / "studies"
