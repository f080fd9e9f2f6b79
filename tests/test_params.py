import pytest

from clip_skip_ext import params
from clip_skip_ext.params import PARAMS, ParamError, Settings


def test_table_and_settings_agree():
    assert [p.name for p in PARAMS] == list(Settings.__dataclass_fields__)
    assert params.to_args(Settings()) == [p.default for p in PARAMS]
    keys = [p.infotext for p in PARAMS if p.infotext]
    assert len(keys) == len(set(keys))
    assert set(keys) >= {
        "Clip skip schedule",
        "Negative clip skip",
        "Hires clip skip",
        "Hires negative clip skip",
    }
    assert "Clip skip" not in keys  # the host's own key keeps its meaning


def test_positional_args_are_canonicalised():
    settings = params.from_args([True, " 2 @ 0.40 ,1", "1", "", None, "auto"])
    assert settings == Settings(True, "2@0.4, 1", "1", "", "", "Auto")


def test_missing_trailing_args_keep_defaults():
    assert params.from_args([True, 2]) == Settings(enabled=True, positive="2")


def test_named_dict_as_first_arg_ignores_the_default_slots():
    settings = params.from_args(
        [{"enabled": True, "positive": "2@40%, 1", "negative": 1}, "", "", "", "", "Manual"]
    )
    assert settings == Settings(enabled=True, positive="2@40%, 1", negative="1")


def test_unknown_and_invalid_fields_are_named_together():
    with pytest.raises(ParamError) as caught:
        params.from_args([{"enabled": "yes", "positve": "2", "negative": "2@@1", "mode": "Sometimes"}])
    message = str(caught.value)
    assert "unknown field 'positve'" in message
    assert "enabled: 'yes' is not true or false" in message
    assert "negative: clip skip schedule '2@@1': unexpected '@' at character 3" in message
    assert "mode: 'Sometimes' is not one of Manual, Auto, Checkpoint default" in message
    assert "fields: enabled, positive, negative, hires_positive, hires_negative, mode" in message


def test_too_many_positional_args():
    with pytest.raises(ParamError, match="7 args given; at most 6"):
        params.from_args([True] + [""] * 6)


def test_same_as_rules():
    assert Settings(positive="2").effective() == {
        "positive": "2",
        "negative": "2",
        "hires_positive": "2",
        "hires_negative": "2",
    }
    assert Settings(positive="2", negative="1").effective()["hires_negative"] == "1"
    assert Settings(positive="2", hires_positive="3").effective()["hires_negative"] == "3"
    assert Settings(positive="2", negative="1", hires_negative="4").effective()["hires_negative"] == "4"


def test_infotext_round_trip_writes_only_non_defaults():
    settings = Settings(enabled=True, positive="2@40%, 1", hires_negative="1.5", mode="Auto")
    written = params.infotext(settings)
    assert written == {
        "Clip skip schedule": "2@40%, 1",
        "Hires negative clip skip": "1.5",
        "Clip skip mode": "auto",
    }
    assert params.from_infotext(written) == settings
    assert params.infotext(Settings(positive="2")) == {}  # disabled: nothing
    assert params.from_infotext({"Clip skip": "2", "Steps": "20"}) is None


def test_schema_lists_every_field_in_positional_order():
    schema = params.schema()
    assert schema["positional_order"] == [p.name for p in PARAMS]
    mode = next(f for f in schema["fields"] if f["name"] == "mode")
    assert mode["enum"] == list(params.MODES)
