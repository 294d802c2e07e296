"""The arena: models' candidate responses, pairs made between them, and the leaderboard of ratings."""
