"""The encoder-classifier family: model.py (an encoder with heads), data.py (token shards and
batches), losses.py (head losses and the hierarchy's coupling), predict.py (logits of a shard)."""
