"""The SMTP gateway and the pipeline behind it, over real TCP."""
