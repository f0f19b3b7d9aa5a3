"""An AmbiguousNameError's hint offers qualified names that work: for "arch.tag", only the
claims that have the tag (following a hint to a claim without it gave UnknownTagError)."""

import pytest

import zoo
from zoo.registry import Registry


def _registry():
    registry = Registry()

    def plugin(tags):
        class Plugin:
            @zoo.hookimpl
            def zoo_architectures(self):
                return [zoo.ArchitectureSpec("net", "classification", builder="m:f",
                                             pretrained={t: zoo.PretrainedCfg(f"org/net.{t}") for t in tags})]
        return Plugin()

    registry.register(plugin([]), name="broken", distribution="acme-broken")  # first: used to be the hint
    registry.register(plugin(["shapes"]), name="good", distribution="acme-good")
    return registry


def test_the_hint_for_a_tag_names_only_claims_that_have_it():
    registry = _registry()
    with pytest.raises(zoo.AmbiguousNameError) as excinfo:
        registry.resolve("net.shapes")
    message = str(excinfo.value)
    assert "acme-good:net.shapes" in message and "acme-broken:net.shapes" not in message
    assert "acme-broken has no tag 'shapes'" in message and "ZOO_DISABLE_PLUGINS=acme-broken" in message
    spec, plugin, tag = registry.resolve("acme-good:net.shapes")  # following the hint works
    assert (plugin.distribution, tag) == ("acme-good", "shapes")


def test_a_bare_name_offers_every_claim_and_each_plugin_to_keep():
    """Not only "turn off the second": that may be the plugin the user had all along."""
    with pytest.raises(zoo.AmbiguousNameError) as excinfo:
        _registry().resolve("net")
    assert "acme-broken:net, acme-good:net; or turn all but one off (ZOO_DISABLE_PLUGINS=acme-good keeps " \
           "acme-broken; ZOO_DISABLE_PLUGINS=acme-broken keeps acme-good)." in str(excinfo.value)


def test_a_tag_no_claim_has_is_an_unknown_tag_listing_each_claims_tags():
    # no qualified name would help, so it is an UnknownTagError, as with a single claim
    with pytest.raises(zoo.UnknownTagError, match="None of them has a pretrained tag 'toy': acme-broken:net has "
                                                     "none; acme-good:net has shapes"):
        _registry().resolve("net.toy")
