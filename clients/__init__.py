"""Clients of the fleet graph: programs that read its GraphQL API and feed events back."""
