"""Writes the schema SDL to graphql_api/schema.graphql: python -m graphql_api.export_schema"""

from __future__ import annotations

from pathlib import Path

from graphql_api.schema import schema

SDL_PATH = Path(__file__).with_name("schema.graphql")


def sdl() -> str:
    return str(schema) + "\n"


if __name__ == "__main__":
    SDL_PATH.write_text(sdl())
    print(f"wrote {SDL_PATH}")
