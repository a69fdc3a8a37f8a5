"""The GraphQL (and REST) API of the DR control plane: Strawberry on Starlette."""
