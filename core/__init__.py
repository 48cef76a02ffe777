"""The ground floor: what every part of the pipeline stands on and that imports nothing of the
project above it. Settings, the simulated clock (the window, the speed, the cadences, the stop),
shutdown, Kafka client settings, the stream and batch-file contracts, SA ID and phone rules,
reference data, and the one way each of these is done: atomic write, size parsing, logging
set-up, CSV writing. See docs/ARCHITECTURE.md."""

__version__ = "0.1.0"
