"""ComfyUI nodes.py: the stock nodes the tests compare with (CLIPTextEncode :54-74, CLIPSetLastLayer
:623-637, ConditioningSetTimestepRange :261-275 with node_helpers.conditioning_set_values)."""


class CLIPTextEncode:
    def encode(self, clip, text):
        tokens = clip.tokenize(text)
        return (clip.encode_from_tokens_scheduled(tokens),)


class CLIPSetLastLayer:
    def set_last_layer(self, clip, stop_at_clip_layer):
        clip = clip.clone()
        clip.clip_layer(stop_at_clip_layer)
        return (clip,)


class ConditioningSetTimestepRange:
    def set_range(self, conditioning, start, end):
        return ([[t, {**d, "start_percent": start, "end_percent": end}] for t, d in conditioning],)
