"""Forge Neo 3df257ae modules/infotext_utils.py: how a pasted infotext becomes the dict that
``infotext_fields`` read (``connect_paste``'s ``paste_func``, :557-600), reduced to the key/value
parsing (:19-20 ``re_param``, :58-72 ``quote``/``unquote``, :299-313) and the one Neo change that
touches clip skip: ``res.pop("Clip skip", None)`` (:335), so PNG Info never restores the host's own."""

import json
import re

re_param = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')  # :19-20


def quote(text):  # :58-62
    if "," not in str(text) and "\n" not in str(text) and ":" not in str(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(text):  # :65-72
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except Exception:
        return text


def create_infotext_line(params):  # processing.py:375 (create_infotext), the parameters line
    return ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None)


def parse_generation_parameters(lastline):  # :260-335, the parameters line only
    res = {}
    for k, v in re_param.findall(lastline):  # :299-313
        if v and v[0] == '"' and v[-1] == '"':
            v = unquote(v)
        res[k] = v
    res.pop("Clip skip", None)  # :335
    return res


def paste(fields, params):
    """What ``paste_func`` (:571-598) gives each component: None = left as it is (``gr.skip()``)."""
    out = []
    for component, key in fields:
        value = key(params) if callable(key) else params.get(key, None)
        out.append((component, value))
    return out
