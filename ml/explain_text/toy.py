"""A toy humor classifier whose right answer is known: a post is funny exactly when it holds a
cue word. The text demo explains it, and the tests check attributions against it (the cue must
carry the score). A 2-layer, 32-wide BERT head over the bundled MiniLM tokenizer; seconds on a
CPU."""

from __future__ import annotations

import random

WORDS = "the city council approved budget road my cat stole seat fridge meeting plant".split()


def toy_posts(rng: random.Random, n: int, cues: tuple[str, ...] = ("haha",)):
    """``n`` (text, funny) posts of 3–7 plain words; a funny one has a cue word inserted."""
    posts = []
    for _ in range(n):
        words = rng.sample(WORDS, rng.randint(3, 7))
        funny = rng.random() < 0.5
        if funny:
            cue = cues[0] if len(cues) == 1 else rng.choice(cues)
            words.insert(rng.randrange(len(words) + 1), cue)
        posts.append((" ".join(words), int(funny)))
    return posts


def toy_model(tokenizer, cues: tuple[str, ...] = ("haha",), *, steps: int = 60, seed: int = 0):
    """The trained toy model (eval mode), deterministic for a seed."""
    import torch
    from transformers import BertConfig, BertModel

    from ml.humor.model import EncoderHead

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = EncoderHead(BertModel(config), num_outputs=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = random.Random(seed)
    model.train()
    for _ in range(steps):
        batch = toy_posts(rng, 16, cues)
        enc = tokenizer([t for t, _ in batch], padding=True, return_tensors="pt")
        logits = model(enc["input_ids"], enc["attention_mask"])
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y in batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
