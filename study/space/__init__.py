"""Search spaces: reading and checking the YAML (``load``, ``checks``), the loaded space
(``spec``), and the samplers it names, from one registry (``samplers``)."""
