"""What the database holds, shown: leaderboards, markdown, CSV/JSON, published rows, plots, the HTML site."""
