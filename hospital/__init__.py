"""What the pipeline's parts share: settings, the simulated clock, reference data, SA rules, the CLI."""

__version__ = "0.1.0"
