from fleetgraph.serving.sdl import SDL_PATH, sdl


def test_checked_in_sdl_matches_the_code() -> None:
    assert SDL_PATH.read_text(encoding="utf-8") == sdl(), (
        "the GraphQL schema changed: run `fleetgraph schemas export` and commit "
        "serving/schema.graphql"
    )
