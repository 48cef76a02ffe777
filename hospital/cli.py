"""The `hospital` command: one entry point whose subcommands are the project's scripts.

Each subcommand is a module with `main(argv) -> int` and its own argparse `--help`; the
same module also runs as a script (for example `python generators/generate_people_data.py`).
Modules are imported only when their command runs, so `hospital --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys

from core.logs import configure_logging
from core.settings import SettingsError

# command name -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "services": ("hospital.local.cli", "start, stop or inspect the local PostgreSQL and Kafka (make up / make down)"),
    "generate-people": ("generators.generate_people_data", "write people.csv and hospital_patients.csv (synthetic Gauteng residents)"),
    "generate-staff": ("generators.generate_staff_doctors", "write staff.csv and doctors.csv from people.csv"),
    "assign-staff": ("generators.assign_hospital_staff", "write assigned_staff.csv: nurses' 12-hour rota, doctors' days and calls, with retirements"),
    "load-population": ("database.load_population", "COPY the reference data and generated CSVs into the warehouse"),
    "write-batches": ("producer.batch_writer", "write patient-record batch files into the landing folder every 15 simulated minutes"),
    "ingest-batches": ("database.batch_ingest", "load landed batch files into the warehouse, each exactly once"),
    "produce-transfers": ("producer.stream_producer", "produce 3 patient-transfer events every 3 simulated minutes to Kafka"),
    "export-fhir": ("producer.fhir_export", "export the warehouse as FHIR R4 Bulk Data: NDJSON per resource type + manifest.json"),
    "relay-adt": ("producer.adt_relay", "publish HL7 v2.5.1 ADT messages (A01/A02/A03) from the warehouse's outbox to Kafka, each once"),
    "consume-transfers": ("consumer.stream_consumer", "upsert patient-transfer events from Kafka into PostgreSQL, effectively once"),
    "prepare": ("hospital.prepare", "generate the population files that are missing, then load them"),
    "run": ("hospital.run", "the whole window end to end on one simulated clock (make demo / make full)"),
    "follow-window": ("hospital.follow_window", "docker compose: retirements, last pass, drain and status around the parts' services"),
    "chaos": ("hospital.chaos", "the window under kill -9s, service restarts and bad inputs; ends with a verdict (make chaos)"),
    "status": ("hospital.status", "describe the warehouse and the run (--json for scripts)"),
    "validate": ("hospital.validate", "run the realism rules (query, band, source) over a finished run; exit 1 if one fails"),
    "prune": ("hospital.prune", "operator: drop clinical day partitions before a day, recorded in ops.partition_drop"),
    "report": ("hospital.report", "write an HTML page with PNG charts of the run (DATA_DIR/report/index.html)"),
    "data-dictionary": ("database.data_dictionary", "write docs/data_dictionary.md from the schema's comments"),
    "deliverables": ("hospital.deliverables", "zip the checklist's deliverables (CSVs, compose, schema, README, brief, scripts)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: hospital <command> [options]   (hospital <command> --help for its options)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {description}" for name, (_, description) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from hospital import __version__
        print(f"hospital {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"hospital: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    configure_logging()
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return module.main(rest, prog=f"hospital {command}")
    except SettingsError as exc:  # a setting that is missing or wrong: one line, not a traceback
        print(f"hospital {command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
