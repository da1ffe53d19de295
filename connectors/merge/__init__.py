"""``labelstream merge``: label shards' partial predictions joined into full ones.

:mod:`connectors.merge.merger` joins and scores (no Kafka client);
:mod:`connectors.merge.runner` is the restartable Kafka loop around it.
"""
