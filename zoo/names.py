"""The grammar of registered names: ``[PLUGIN:]NAME[.TAG]``.

``PLUGIN`` (a distribution or entry-point name, or ``dist:entry-point``) picks one claim where
plugins register the same name; ``TAG`` names a pretrained weight set of an architecture (explainers have none).
Everything that reads a name the user wrote, or a name a listing printed, splits it here.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from zoo.errors import UnknownTagError


class Name(NamedTuple):
    text: str       # as written
    qualifier: str  # the plugin before ":" ("" when none)
    qualified: bool  # whether ":" was written (":unet" is qualified, by nothing)
    bare: str       # what follows the qualifier: "arch" or "arch.tag"

    @property
    def arch(self) -> str:
        return self.bare.partition(".")[0]

    @property
    def tag(self) -> str:
        """The tag ("" when none, and for a name ending with a dot: see ``ends_with_dot``)."""
        return self.bare.partition(".")[2]

    @property
    def has_tag_part(self) -> bool:
        return "." in self.bare

    @property
    def ends_with_dot(self) -> bool:
        return self.has_tag_part and not self.tag

    def check(self, error: type, kind: str, form: str) -> "Name":
        """Refuse a name whose parts are empty (``:unet``, ``dist:``, ``.tag``), naming what was
        given; ``form`` is the unqualified form to suggest (``ARCH[.TAG]``, ``NAME``). No
        registered name holds a dot, so what precedes one must name something."""
        how = f"write {form}, or DIST:{form} where DIST is the plugin's distribution"
        if self.qualified and not self.qualifier:
            raise error(f"{self.text!r} has nothing before ':'; {how}")
        if not self.arch:
            raise error(f"{self.text!r} names no {kind}; {how}")
        return self

    def check_tag_part(self) -> "Name":
        """Refuse ``arch.``, a dot with no tag after it, naming the two names it may have meant."""
        if self.ends_with_dot:
            raise UnknownTagError(f"{self.text!r} ends with a dot: write {self.text[:-1]!r} for the architecture, "
                                  f"or {self.text}TAG for one of its pretrained tags.")
        return self


def same_architecture(a: str, b: str) -> bool:
    """Whether two names written for models (``unet``, ``org/unet``, ``dist:unet``, ``unet.tag``:
    a config's ``architecture``, a spec's name) name one architecture."""
    def bare(name: str) -> str:
        return parse_name(name).arch.rpartition("/")[2]

    return bare(a) == bare(b)


def parse_name(text: str) -> Name:
    """Split ``[PLUGIN:]NAME[.TAG]`` without judging it (see :meth:`Name.check`). A registered
    name holds no ":", so the last ":" ends the qualifier (itself ``dist:entry-point`` where
    neither part alone singles a plugin out)."""
    qualifier, colon, bare = text.rpartition(":")
    return Name(text, qualifier, bool(colon), bare)


def close_names(name: str, names: Iterable[str], n: int = 5, cutoff: float = 0.6) -> list[str]:
    """The ``names`` closest to ``name`` for a "Did you mean" hint, ignoring case ("UNet" finds
    "unet"): every hint of the zoo (models, explainers, tags, hub cards, hook names) uses it."""
    import difflib

    by_lower = {}
    for known in names:
        by_lower.setdefault(known.lower(), known)
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=cutoff)]
