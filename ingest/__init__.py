"""From events to graph updates: framework-free stages and the runners that drive them."""
