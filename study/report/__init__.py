"""``python -m study report``: the study's one offline HTML page (load, build, publish)."""
