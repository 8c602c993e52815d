"""The CHoRaL humor classifier: an encoder fine-tuned on reaction labels (binary) or HS."""
