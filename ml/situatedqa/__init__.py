"""SituatedQA (Zhang & Choi, EMNLP 2021), no Django: the official file layouts (``formats``),
the EM scorer (``evaluate``), the temporal / geographic / neither context classifier
(``config``, ``data``, ``model``, ``train``, ``predict``, ``metrics``; its training data in
``data/id_data``) and a BM25 retrieval baseline (``retrieval``)."""
