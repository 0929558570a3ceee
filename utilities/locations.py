"""Where dupFinder looks for its config and keeps its catalog and reports: beside the checkout for
`python main.py`, in the user's own folders (XDG on Linux, through platformdirs) for the installed
`dupfinder` and `dupfinder-mul` commands, so that every run finds the same catalog wherever it starts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

APP = "dupfinder"
URL_ENV = "DUPFINDER_DB_URL"     # a database URL in the environment beats the config file
CONFIG_NAME = "config.json"
CATALOG_NAME = "file_hashes.db"
REPORT_NAME = "hash_report.html"
PROJECT_DIR = Path(__file__).resolve().parent.parent     # the checkout, when run as python main.py


@dataclass(frozen=True)
class Locations:
    installed: bool
    config_files: tuple[Path, ...]   # tried in order when --config is not given
    outputs: Path                    # the default folder of reports (and of the default catalog)

    @property
    def report(self) -> str:
        """The default HTML report (-r), as shown: ./outputs/hash_report.html in a checkout."""
        path = self.outputs / REPORT_NAME
        return str(path) if path.is_absolute() else f"./{path}"

    @property
    def default_catalog(self) -> Path:
        """The SQLite catalog the installed commands use when no config file exists."""
        return self.outputs / CATALOG_NAME


def checkout() -> Locations:
    """python main.py: ./config.json, else the one beside main.py; reports in ./outputs/ (cli-contract.md)."""
    return Locations(installed=False, config_files=(Path.cwd() / CONFIG_NAME, PROJECT_DIR / CONFIG_NAME),
                     outputs=Path("outputs"))


def installed() -> Locations:
    """The installed commands: the user's config folder, and the user's data folder for everything kept."""
    import platformdirs  # only the installed commands need it
    config_dir = Path(platformdirs.user_config_dir(APP, appauthor=False))
    data_dir = Path(platformdirs.user_data_dir(APP, appauthor=False))
    return Locations(installed=True, config_files=(config_dir / CONFIG_NAME,), outputs=data_dir)
