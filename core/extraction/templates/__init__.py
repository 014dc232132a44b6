"""Per-supplier templates, one TOML file each: see core/extraction/template.py for the format."""
