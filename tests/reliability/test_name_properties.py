"""Property-based tests of name parsing and patterns (issue 9)."""

import fnmatch
import string

from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.registry import Registry

arch_names = st.from_regex(r"[a-z0-9_][a-z0-9_\-/]{0,20}", fullmatch=True)
tags = st.from_regex(r"[a-z0-9_][a-z0-9_\-]{0,10}", fullmatch=True)


def registry_with(specs):
    registry = Registry()

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return specs

    registry.register(Plugin(), name="props")
    return registry


@settings(max_examples=60, deadline=None)
@given(arch=arch_names, tag=tags)
def test_arch_dot_tag_round_trips(arch, tag):
    spec = zoo.ArchitectureSpec(arch, "classification", builder="m:f",
                                pretrained={tag: zoo.PretrainedCfg(hf_hub_id="org/name")})
    registry = registry_with([spec])
    assert registry.resolve(f"{arch}.{tag}")[2] == tag
    assert registry.resolve(arch, pretrained=True)[2] == tag
    assert registry.resolve(f"props:{arch}")[0] is spec
    assert registry.list_models(pretrained=True) == [f"{arch}.{tag}"]


@settings(max_examples=60, deadline=None)
@given(names=st.lists(arch_names, min_size=1, max_size=8, unique=True),
       pattern=st.text(alphabet=string.ascii_lowercase[:4] + "*?_", max_size=6))
def test_patterns_agree_with_fnmatch(names, pattern):
    registry = registry_with([zoo.ArchitectureSpec(n, "classification", builder="m:f") for n in names])
    effective = pattern or "*"  # an empty pattern lists everything, as timm's filter=''
    assert set(registry.list_models(pattern)) == {n for n in names if fnmatch.fnmatchcase(n, effective)}


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=30))
def test_any_string_either_resolves_or_raises_a_zoo_error(name):
    registry = registry_with([zoo.ArchitectureSpec("net", "classification", builder="m:f")])
    try:
        spec, _, _ = registry.resolve(name)
    except zoo.ZooError as exc:
        assert isinstance(exc, (KeyError, ValueError)) and str(exc)
    else:
        assert spec.name == "net"
