"""Forge 2.x ``backend`` (commit dfdcbab6), reduced to the text path: the engines that turn prompts into
conditioning and the module state that ``modules/processing.py`` reads. Every class cites its source."""
