"""SituatedQA (Zhang & Choi, EMNLP 2021): the official file layouts and the EM scorer (no Django)."""
