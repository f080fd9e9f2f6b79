"""modules/extra_networks.py: registry (:9-20), ExtraNetwork (:48), parse_prompts (:175-206)."""

import re
from collections import defaultdict

extra_network_registry = {}


def register_extra_network(extra_network):  # :18-20
    extra_network_registry[extra_network.name] = extra_network


class ExtraNetworkParams:
    def __init__(self, items=None):
        self.items = items or []


class ExtraNetwork:
    def __init__(self, name):
        self.name = name


re_extra_net = re.compile(r"<(\w+):([^>]+)>")  # :175


def parse_prompt(prompt):  # :178-191
    res = defaultdict(list)

    def found(m):
        res[m.group(1)].append(ExtraNetworkParams(items=m.group(2).split(":")))
        return ""

    return re.sub(re_extra_net, found, prompt), res


def parse_prompts(prompts):  # :194-206: the data of the FIRST prompt only, every prompt stripped
    res, extra_data = [], None
    for prompt in prompts:
        updated, parsed = parse_prompt(prompt)
        if extra_data is None:
            extra_data = parsed
        res.append(updated)
    return res, extra_data


def activate(p, extra_network_data):  # :126-147: the prompt's networks, then every other with []
    activated = []
    for name, args in extra_network_data.items():
        if name not in extra_network_registry:
            p.unknown_networks.append(name)  # lookup_extra_networks' "Skipping unknown extra network"
            continue
        extra_network_registry[name].activate(p, args)
        activated.append(name)
    for name, extra_network in extra_network_registry.items():
        if name not in activated:
            extra_network.activate(p, [])
