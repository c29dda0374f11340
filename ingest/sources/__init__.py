"""Where messages come from: event-log files, the simulator, Kafka."""
