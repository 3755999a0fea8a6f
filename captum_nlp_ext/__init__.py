"""captum-nlp-ext: NLP attribution methods for Captum."""

__version__ = "0.1.0"
