"""The public status page at `/`: tiles filled from the public GraphQL fields, and a
30-day backup timeline drawn on the server as SVG."""
