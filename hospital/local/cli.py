"""`hospital services up|down|status`: the local PostgreSQL and Kafka behind `make up` / `make down`."""

from __future__ import annotations

import argparse
import json
import sys

from hospital import local


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Start, stop or inspect the local PostgreSQL cluster and Apache Kafka broker. "
        "Ports: HOSPITAL_PG_PORT (55432), HOSPITAL_KAFKA_PORT (19092), HOSPITAL_KAFKA_CONTROLLER_PORT (19093).")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("up", help="start what is not running, apply init_db.sql, create topics, write .local/env")
    sub.add_parser("down", help="stop both services")
    sub.add_parser("status", help="print which services run, as JSON")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        if args.action == "up":
            versions = local.up()
            print(f"PostgreSQL {versions['postgresql']} and Apache Kafka {versions['kafka']} are up; "
                  "settings in .local/env")
        elif args.action == "down":
            stopped = local.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        else:
            services = local.LocalServices.from_environment()
            print(json.dumps({"postgresql": services.postgres.running_pid() is not None,
                              "kafka": services.kafka.running_pid() is not None}))
    except local.ServiceError as exc:
        print(f"hospital services {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
